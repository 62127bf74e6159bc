import type { Bus } from "@syncwell/bus";
import { uuidv7 } from "@syncwell/contracts";
import { findJobRun, startJobRun } from "@syncwell/db";
import { createLogger } from "@syncwell/telemetry";
import { createTestBus, createTestDatabase, createTestNats, type TestDatabase } from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { startJobRunSweeper } from "./job-run-sweeper.ts";

const nats = createTestNats("sweeper");
let db: TestDatabase;
let bus: Bus;

beforeAll(async () => {
  db = await createTestDatabase();
  bus = await createTestBus(nats, "scheduler-test");
  await bus.provision();
  // "busy" has a consumer (a service that never finishes its runs); "orphan" has none.
  await bus.consume({
    durable: "sweeper-busy",
    stream: "ticks",
    filterSubject: "tick.busy",
    handlers: { tick: async () => undefined },
  });
});

afterAll(async () => {
  await bus?.close();
  await nats.cleanup();
  await db?.drop();
});

async function runStartedAgo(schedule: string, ageMs: number): Promise<string> {
  const id = uuidv7();
  await startJobRun(db.pool, { id, schedule, slot: new Date(Date.now() - ageMs) });
  await db.pool.query(
    "UPDATE job_runs SET started_at = now() - make_interval(secs => $2::float8 / 1000) WHERE id = $1",
    [id, ageMs],
  );
  return id;
}

describe("job run sweeper", () => {
  it("abandons runs of a schedule nobody consumes, and any run past its deadline, with the reason", async () => {
    const orphanOld = await runStartedAgo("orphan", 5 * 60_000);
    const orphanNew = await runStartedAgo("orphan", 1_000);
    const busyOld = await runStartedAgo("busy", 5 * 60_000);
    const busyAncient = await runStartedAgo("busy", 3 * 60 * 60_000);
    const sweeper = startJobRunSweeper({
      pool: db.pool,
      jsm: bus.jsm,
      naming: bus.naming,
      logger: createLogger({ service: "test", level: "silent" }),
      schedules: ["orphan", "busy"],
      unclaimedAfterMs: 60_000,
      deadlineMs: 2 * 60 * 60_000,
      intervalMs: 60_000,
    });
    expect(await sweeper.sweep()).toBe(2);
    sweeper.stop();

    const orphan = await findJobRun(db.pool, orphanOld);
    expect(orphan).toMatchObject({ status: "abandoned" });
    expect(orphan?.error).toContain("no durable consumer reads tick.<schedule>");
    expect(orphan?.finishedAt).toBeInstanceOf(Date);
    // Too young to give up on, and a consumer exists for "busy" within its deadline.
    expect((await findJobRun(db.pool, orphanNew))?.status).toBe("running");
    expect((await findJobRun(db.pool, busyOld))?.status).toBe("running");
    const ancient = await findJobRun(db.pool, busyAncient);
    expect(ancient).toMatchObject({ status: "abandoned" });
    expect(ancient?.error).toContain("not finished within 120 min");
  });
});
