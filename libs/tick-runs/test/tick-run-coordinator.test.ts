import { setTimeout as sleep } from "node:timers/promises";
import type { Bus } from "@syncwell/bus";
import { uuidv7 } from "@syncwell/contracts";
import { findJobRun, recordJobRunCounts, startJobRun } from "@syncwell/db";
import { createTestBus, createTestDatabase, createTestNats, type TestDatabase } from "@syncwell/testing";
import pino from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { countActiveClaims, type RunShare, TickRunCoordinator } from "../src/index.ts";

/**
 * Two replicas of a made-up service whose work is rows of `items`, claimed with a lease as the
 * real engines do (FOR UPDATE SKIP LOCKED), on real Postgres and NATS.
 */

const nats = createTestNats("tickcoord");
const silent = pino({ level: "silent" });
let db: TestDatabase;
let busA: Bus;
let busB: Bus;
let wakeSubjects = 0;
const CLAIMS = { table: "items", claimedUntil: "claimed_until" };

type Counts = { done: number; skipped: number };

beforeAll(async () => {
  db = await createTestDatabase();
  await db.pool.query(
    "CREATE TABLE items (id int PRIMARY KEY, claimed_until timestamptz, done_at timestamptz, done_by text)",
  );
  busA = await createTestBus(nats, "replica-a");
  busB = await createTestBus(nats, "replica-b");
});

afterAll(async () => {
  await busA?.close();
  await busB?.close();
  await nats.cleanup();
  await db?.drop();
});

beforeEach(async () => {
  await db.pool.query("TRUNCATE items");
});

/** Claims up to `batch` rows not done since the run started, works 20 ms on each, marks them done. */
async function share(replica: string, run: RunShare, batch = 5) {
  const { rows } = await db.pool.query<{ id: number }>(
    `UPDATE items SET claimed_until = now() + interval '10 seconds'
     WHERE id IN (SELECT id FROM items WHERE (done_at IS NULL OR done_at < $1)
       AND (claimed_until IS NULL OR claimed_until < now()) ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
     RETURNING id`,
    [run.startedAt, batch],
  );
  await sleep(20 * rows.length);
  const ids = rows.map((r) => r.id);
  await db.pool.query(
    "UPDATE items SET claimed_until = NULL, done_at = clock_timestamp(), done_by = $2 WHERE id = ANY($1)",
    [ids, replica],
  );
  if (ids.length > 0) await recordJobRunCounts(db.pool, run.jobRunId, { done: ids.length });
  return { counts: { done: ids.length }, claimed: ids.length };
}

function coordinator(bus: Bus, replica: string, wakeSubject: string, extra: { maxWaitMs?: number } = {}) {
  return new TickRunCoordinator<Counts, { leftAside: number }>({
    pool: db.pool,
    nc: bus.nc,
    naming: bus.naming,
    logger: silent,
    runName: "test run",
    wakeSubject,
    engine: { replicaId: replica, stopping: false },
    emptyCounts: () => ({ done: 0, skipped: 0 }),
    startedAt: async (jobRunId) => (await findJobRun(db.pool, jobRunId))?.startedAt ?? new Date(),
    runShare: (run) => share(replica, run),
    activeClaims: () => countActiveClaims(db.pool, CLAIMS),
    finalPass: true,
    maxWaitMs: extra.maxWaitMs ?? 10_000,
    pollIntervalMs: 50,
    conclude: async ({ complete }) => ({
      status: complete ? "succeeded" : "partial",
      error: complete ? null : "claims still held",
      summary: { leftAside: 0 },
    }),
  });
}

async function newRun(): Promise<string> {
  const id = uuidv7();
  await startJobRun(db.pool, { id, schedule: "test", slot: new Date() });
  return id;
}

describe("TickRunCoordinator", () => {
  it("splits a run across replicas and finishes the job run with every replica's counts", async () => {
    await db.pool.query("INSERT INTO items (id) SELECT generate_series(1, 60)");
    const subject = `test.wake.${++wakeSubjects}`;
    const owner = coordinator(busA, "a", subject);
    const helper = coordinator(busB, "b", subject);
    owner.start();
    helper.start();
    const jobRunId = await newRun();
    const summary = await owner.runTick(jobRunId);
    await helper.stop();
    await owner.stop();

    const { rows } = await db.pool.query<{ done_by: string; n: number }>(
      "SELECT done_by, count(*)::int AS n FROM items GROUP BY done_by ORDER BY done_by",
    );
    expect(rows.map((r) => r.done_by)).toEqual(["a", "b"]);
    expect(rows.reduce((sum, r) => sum + r.n, 0)).toBe(60);
    expect(summary).toMatchObject({ jobRunId, status: "succeeded", leftAside: 0, skipped: 0 });
    expect(summary.done).toBe(rows.find((r) => r.done_by === "a")?.n);
    const run = await findJobRun(db.pool, jobRunId);
    expect(run?.status).toBe("succeeded");
    expect(run?.counts.done).toBe(60);
  });

  it("takes over the claims of a replica that died once their lease lapses", async () => {
    await db.pool.query("INSERT INTO items (id) SELECT generate_series(1, 6)");
    // A dead replica's claims: their lease lapses 300 ms from now.
    await db.pool.query("UPDATE items SET claimed_until = now() + interval '300 milliseconds' WHERE id <= 3");
    const owner = coordinator(busA, "a", `test.wake.${++wakeSubjects}`);
    owner.start();
    const summary = await owner.runTick(await newRun());
    await owner.stop();
    expect(summary).toMatchObject({ done: 6, status: "succeeded" });
  });

  it("ends partial, with the conclusion's error, when claims are still held after maxWaitMs", async () => {
    await db.pool.query("INSERT INTO items (id) SELECT generate_series(1, 3)");
    await db.pool.query("UPDATE items SET claimed_until = now() + interval '1 hour' WHERE id = 1");
    const owner = coordinator(busA, "a", `test.wake.${++wakeSubjects}`, { maxWaitMs: 300 });
    owner.start();
    const jobRunId = await newRun();
    const summary = await owner.runTick(jobRunId);
    await owner.stop();
    expect(summary).toMatchObject({ done: 2, status: "partial" });
    const run = await findJobRun(db.pool, jobRunId);
    expect(run).toMatchObject({ status: "partial", error: "claims still held" });
  });
});
