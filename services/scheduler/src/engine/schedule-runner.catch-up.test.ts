import { randomUUID } from "node:crypto";
import type { Bus } from "@syncwell/bus";
import { startJobRun } from "@syncwell/db";
import {
  createTestBus,
  createTestDatabase,
  createTestNats,
  type TestDatabase,
  waitFor,
} from "@syncwell/testing";
import { Cron } from "croner";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tickEventId } from "../domain/tick-id.ts";
import { type RunningScheduler, readTicks, startScheduler } from "../testing/fixtures.ts";

const nats = createTestNats("schedcu");
let db: TestDatabase;
let bus: Bus;
const running: RunningScheduler[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  bus = await createTestBus(nats, "scheduler-test");
});

afterAll(async () => {
  await Promise.allSettled(running.map((r) => r.stop()));
  await bus?.close();
  await nats.cleanup();
  await db?.drop();
});

// A daily schedule whose slot was two hours ago: its next slot is ~22 h away, so in this test only a
// catch-up can fire it.
const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
const daily = `0 ${twoHoursAgo.getUTCMinutes()} ${twoHoursAgo.getUTCHours()} * * *`;
const latestSlot = new Cron(daily, { paused: true, timezone: "UTC" }).previousRuns(1)[0] as Date;
const DAY = 86_400_000;

async function runsOf(schedule: string) {
  const { rows } = await db.pool.query<{ id: string; slot: Date; catch_up: boolean; manual: boolean }>(
    "SELECT id, slot, catch_up, manual FROM job_runs WHERE schedule = $1 ORDER BY slot",
    [schedule],
  );
  return rows;
}

describe("catch-up after downtime", () => {
  it("fires the latest missed slot once, marked catchUp, however many replicas start", async () => {
    // `missed` last ran three days ago (its last three slots were missed), `done` ran its latest
    // slot already, and `fresh` never ran at all.
    await startJobRun(db.pool, {
      id: randomUUID(),
      schedule: "missed",
      slot: new Date(latestSlot.getTime() - 3 * DAY),
    });
    await startJobRun(db.pool, { id: randomUUID(), schedule: "done", slot: latestSlot });
    const env = { SCHEDULES_EXTRA: `missed=${daily};done=${daily};fresh=${daily}` };

    running.push(...(await Promise.all([startScheduler(db, nats, env), startScheduler(db, nats, env)])));
    await waitFor(async () => (await runsOf("missed")).length === 2 || undefined, "the catch-up run", {
      timeoutMs: 15_000,
      intervalMs: 100,
    });
    await Promise.all(running.splice(0).map((r) => r.stop()));

    const runs = await runsOf("missed");
    expect(runs).toHaveLength(2);
    expect(runs[1]).toMatchObject({ slot: latestSlot, catch_up: true, manual: false });
    expect(await runsOf("done")).toHaveLength(1);
    expect(await runsOf("fresh")).toHaveLength(0);

    const ticks = await readTicks(bus);
    expect(ticks).toHaveLength(1);
    expect(ticks[0]?.subject).toBe("tick.missed");
    expect(ticks[0]?.event.id).toBe(tickEventId("missed", latestSlot));
    expect(ticks[0]?.event.data).toEqual({
      schedule: "missed",
      slot: latestSlot.toISOString(),
      catchUp: true,
      manual: false,
      jobRunId: runs[1]?.id,
    });

    // A later restart finds the slot done: nothing more. (Start-up resolves once the catch-up
    // check is done, so there is nothing to wait for.)
    const again = await startScheduler(db, nats, env);
    running.push(again);
    await again.stop();
    running.length = 0;
    expect(await runsOf("missed")).toHaveLength(2);
    expect(await readTicks(bus)).toHaveLength(1);
  });

  it("does not catch up a slot older than SCHEDULE_CATCH_UP_MAX_AGE", async () => {
    await startJobRun(db.pool, {
      id: randomUUID(),
      schedule: "bounded",
      slot: new Date(latestSlot.getTime() - DAY),
    });
    const scheduler = await startScheduler(db, nats, {
      SCHEDULES_EXTRA: `bounded=${daily}`,
      SCHEDULE_CATCH_UP_MAX_AGE: "1h",
    });
    running.push(scheduler);
    await scheduler.stop();
    running.length = 0;
    expect(await runsOf("bounded")).toHaveLength(1);
  });
});
