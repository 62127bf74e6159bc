import type { Bus } from "@syncwell/bus";
import {
  createTestBus,
  createTestDatabase,
  createTestNats,
  type TestDatabase,
  waitFor,
} from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tickEventId } from "../domain/tick-id.ts";
import { type RunningScheduler, readTicks, startScheduler } from "../testing/fixtures.ts";

const nats = createTestNats("schedrep");
let db: TestDatabase;
let bus: Bus;
const replicas: RunningScheduler[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  bus = await createTestBus(nats, "scheduler-test");
});

afterAll(async () => {
  await Promise.allSettled(replicas.map((r) => r.stop()));
  await bus?.close();
  await nats.cleanup();
  await db?.drop();
});

type RunRow = { id: string; slot: Date; tick_event_id: string; catch_up: boolean; manual: boolean };

async function runs(): Promise<RunRow[]> {
  const { rows } = await db.pool.query<RunRow>(
    "SELECT id, slot, tick_event_id, catch_up, manual FROM job_runs WHERE schedule = 'every-second' ORDER BY slot",
  );
  return rows;
}

describe("three replicas", () => {
  it("publish each slot of an every-second schedule exactly once, with one job run", async () => {
    const started = await Promise.all(
      [1, 2, 3].map(() => startScheduler(db, nats, { SCHEDULES_EXTRA: "every-second=* * * * * *" })),
    );
    replicas.push(...started);

    await waitFor(async () => (await runs()).length >= 5 || undefined, "five slots", {
      timeoutMs: 20_000,
      intervalMs: 100,
    });
    // Stopping flushes each replica's outbox relay, so every committed tick is in the stream.
    await Promise.all(replicas.splice(0).map((r) => r.stop()));

    const jobRuns = await runs();
    const ticks = (await readTicks(bus)).filter((t) => t.event.data.schedule === "every-second");

    const slots = ticks.map((t) => t.event.data.slot);
    expect(new Set(slots).size).toBe(slots.length); // no slot twice
    expect(slots.length).toBe(jobRuns.length); // one tick per job run
    expect(slots.length).toBeGreaterThanOrEqual(5);

    const bySlot = new Map(jobRuns.map((r) => [r.slot.toISOString(), r]));
    for (const tick of ticks) {
      const run = bySlot.get(tick.event.data.slot);
      expect(run, `job run for ${tick.event.data.slot}`).toBeDefined();
      expect(tick.subject).toBe("tick.every-second");
      expect(tick.event.data.jobRunId).toBe(run?.id);
      expect(tick.event.id).toBe(tickEventId("every-second", new Date(tick.event.data.slot)));
      expect(tick.msgId).toBe(tick.event.id);
      expect(run?.tick_event_id).toBe(tick.event.id);
      expect(tick.event.data.manual).toBe(false);
      expect(new Date(tick.event.data.slot).getMilliseconds()).toBe(0);
    }
    // Steady state: slots on time, one second apart.
    const onTime = ticks.filter((t) => !t.event.data.catchUp);
    expect(onTime.length).toBeGreaterThanOrEqual(3);
    const sorted = [...slots].sort();
    const gaps = sorted.slice(1).map((s, i) => Date.parse(s) - Date.parse(sorted[i] ?? s));
    expect(gaps.filter((g) => g === 1_000).length).toBeGreaterThanOrEqual(3);

    // The stream's duplicate window drops a replica's copy on its own, too.
    const first = ticks[0];
    if (!first) throw new Error("no tick");
    expect((await bus.publish(first.event)).duplicate).toBe(true);
  });
});
