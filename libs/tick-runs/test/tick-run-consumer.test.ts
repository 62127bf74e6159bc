import type { Bus } from "@syncwell/bus";
import { createEvent, uuidv7 } from "@syncwell/contracts";
import { startJobRun } from "@syncwell/db";
import {
  createTestBus,
  createTestDatabase,
  createTestNats,
  finishedJobRun,
  type TestDatabase,
  waitFor,
} from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tickRunConsumer } from "../src/index.ts";

/** Stale ticks, against real JetStream and Postgres (the job runs). */

const nats = createTestNats("tickcons");
let bus: Bus;
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
  bus = await createTestBus(nats);
  await bus.provision();
});

afterAll(async () => {
  await bus?.close();
  await nats.cleanup();
  await db?.drop();
});

describe("tick consumers", () => {
  it("skip a tick older than they allow: acked, its job run skipped with the reason, counted", async () => {
    let ran = 0;
    const slot = new Date(Date.now() - 20 * 60_000);
    const jobRunId = uuidv7();
    await startJobRun(db.pool, { id: jobRunId, schedule: "limits", slot });
    const consumer = await bus.consume(
      tickRunConsumer({
        durable: "limits-ticks",
        description: "test",
        schedule: "limits",
        pool: db.pool,
        metrics: bus.metrics,
        staleAfterMs: 60_000,
        coordinator: {
          runTick: async () => {
            ran++;
          },
        },
      }),
    );
    const tick = (id: string, at: Date) =>
      createEvent(
        "tick",
        { schedule: "limits", slot: at.toISOString(), catchUp: false, manual: false, jobRunId: id },
        { source: "scheduler", occurredAt: at },
      );
    await bus.publish(tick(jobRunId, slot));
    const run = await finishedJobRun(db.pool, jobRunId);
    expect(run.status).toBe("skipped");
    expect(run.error).toContain("skipped");
    expect(ran).toBe(0);

    const freshId = uuidv7();
    const now = new Date();
    await startJobRun(db.pool, { id: freshId, schedule: "limits", slot: now });
    await bus.publish(tick(freshId, now));
    await waitFor(() => ran === 1, "the fresh tick to run");
    const skipped = (await bus.metrics.ticksSkipped.get()).values.find((v) => v.labels.schedule === "limits");
    expect(skipped?.value).toBe(1);
    await consumer.stop();
  });
});
