import { randomUUID } from "node:crypto";
import { createTestDatabase, type TestDatabase } from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findJobRun, finishJobRun, recordJobRunCounts, startJobRun } from "./job-runs.repository.ts";
import { withTransaction } from "./pool.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase({ poolMax: 12 });
});

afterAll(async () => {
  await db?.drop();
});

let n = 0;
function slot(): Date {
  n++;
  return new Date(Date.UTC(2026, 10, 21, 10, n, 0));
}

async function newRun(schedule = "token-refresh"): Promise<string> {
  const id = randomUUID();
  const result = await startJobRun(db.pool, { id, schedule, slot: slot() });
  expect(result.started).toBe(true);
  return id;
}

describe("startJobRun", () => {
  it("creates a running run with its flags", async () => {
    const id = randomUUID();
    const tickEventId = randomUUID();
    const at = slot();
    const result = await startJobRun(db.pool, {
      id,
      schedule: "poll",
      slot: at,
      tickEventId,
      catchUp: true,
    });
    expect(result).toMatchObject({
      started: true,
      jobRun: {
        id,
        schedule: "poll",
        slot: at,
        status: "running",
        tickEventId,
        catchUp: true,
        manual: false,
        attempts: 1,
        counts: {},
        error: null,
        finishedAt: null,
        durationMs: null,
      },
    });
  });

  it("lets exactly one of many concurrent callers start a slot", async () => {
    const at = slot();
    const results = await Promise.all(
      Array.from({ length: 8 }, () =>
        withTransaction(db.pool, (client) =>
          startJobRun(client, { id: randomUUID(), schedule: "race", slot: at }),
        ),
      ),
    );
    expect(results.filter((r) => r.started)).toHaveLength(1);
    expect(results.filter((r) => !r.started)).toEqual(
      Array.from({ length: 7 }, () => ({ started: false, reason: "slot_taken" })),
    );
    const { rows } = await db.pool.query("SELECT count(*)::int AS n FROM job_runs WHERE schedule = 'race'");
    expect(rows[0].n).toBe(1);
  });
});

describe("recordJobRunCounts", () => {
  it("adds counts to the totals, keys missing so far starting at 0", async () => {
    const id = await newRun();
    expect(await recordJobRunCounts(db.pool, id, { refreshed: 3, failed: 1 })).toEqual({
      refreshed: 3,
      failed: 1,
    });
    expect(await recordJobRunCounts(db.pool, id, { refreshed: 2, skipped: 4 })).toEqual({
      refreshed: 5,
      failed: 1,
      skipped: 4,
    });
    expect(await recordJobRunCounts(db.pool, id, {})).toEqual({ refreshed: 5, failed: 1, skipped: 4 });
    expect((await findJobRun(db.pool, id))?.counts).toEqual({ refreshed: 5, failed: 1, skipped: 4 });
  });

  it("loses no increment when many replicas report at once", async () => {
    const id = await newRun();
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        withTransaction(db.pool, (client) =>
          recordJobRunCounts(client, id, { refreshed: 1, [`k${i % 3}`]: 2 }),
        ),
      ),
    );
    const run = await findJobRun(db.pool, id);
    expect(run?.counts).toEqual({ refreshed: 40, k0: 28, k1: 26, k2: 26 });
  });

  it("returns null for an unknown run and refuses nonsense", async () => {
    expect(await recordJobRunCounts(db.pool, randomUUID(), { refreshed: 1 })).toBeNull();
    const id = await newRun();
    await expect(recordJobRunCounts(db.pool, id, { refreshed: Number.NaN })).rejects.toThrow(TypeError);
    await expect(recordJobRunCounts(db.pool, id, { "": 1 })).rejects.toThrow(TypeError);
  });
});

describe("finishJobRun", () => {
  it("sets the outcome, finished_at and the duration since start", async () => {
    const id = await newRun();
    await new Promise((r) => setTimeout(r, 30));
    const run = await finishJobRun(db.pool, id, { status: "partial", error: "2 of 10 connections failed" });
    expect(run).toMatchObject({ id, status: "partial", error: "2 of 10 connections failed", attempts: 1 });
    expect(run?.finishedAt).toBeInstanceOf(Date);
    expect(run?.durationMs).toBeGreaterThanOrEqual(25);
    expect(run?.durationMs).toBe((run?.finishedAt?.getTime() ?? 0) - (run?.startedAt.getTime() ?? 0));
  });

  it("counts a second finish (a re-run) as another attempt; the last outcome wins", async () => {
    const id = await newRun();
    await finishJobRun(db.pool, id, { status: "failed", error: "database unreachable" });
    const again = await finishJobRun(db.pool, id, { status: "succeeded" });
    expect(again).toMatchObject({ status: "succeeded", error: null, attempts: 2 });
  });

  it("returns null for an unknown run and refuses a non-final status", async () => {
    expect(await finishJobRun(db.pool, randomUUID(), { status: "succeeded" })).toBeNull();
    const id = await newRun();
    await expect(finishJobRun(db.pool, id, { status: "running" as unknown as "succeeded" })).rejects.toThrow(
      TypeError,
    );
  });

  it("stores at most 2,000 characters of error", async () => {
    const id = await newRun();
    const run = await finishJobRun(db.pool, id, { status: "failed", error: "x".repeat(5_000) });
    expect(run?.error).toHaveLength(2_000);
  });
});
