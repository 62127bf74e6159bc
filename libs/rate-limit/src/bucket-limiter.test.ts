// The shared token buckets against real Postgres (a migrated database of the test's own).
import { createTestDatabase, type TestDatabase } from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BucketBlockedError, createRateLimiter, type RateLimiter } from "./index.ts";

let db: TestDatabase;
let limiter: RateLimiter;

beforeAll(async () => {
  db = await createTestDatabase();
  limiter = createRateLimiter(db.pool);
  await limiter.configure([
    { key: "fast", perSec: 1_000, burst: 1_000 },
    { key: "slow", perSec: 10, burst: 2 },
    { key: "blocked", perSec: 1_000, burst: 1_000 },
    { key: "abort", perSec: 10, burst: 1 },
  ]);
});

afterAll(async () => {
  await db?.drop();
});

describe("createRateLimiter", () => {
  it("grants takes within the burst at once, folding concurrent ones into one reservation", async () => {
    const started = performance.now();
    const granted = await Promise.all([
      limiter.take("fast"),
      limiter.takeMany("fast", 10),
      limiter.takeMany("fast", 0),
    ]);
    expect(granted).toEqual([undefined, 10, 0]);
    expect(performance.now() - started).toBeLessThan(500);
    const { rows } = await db.pool.query<{ tokens: number }>(
      "SELECT tokens FROM rate_limit_buckets WHERE key = 'fast'",
    );
    expect(rows[0]?.tokens).toBeLessThanOrEqual(1_000 - 11 + 5);
  });

  it("makes a takeMany beyond the burst wait for its last token's slot", async () => {
    const started = performance.now();
    // Burst 2, then 10 per second: the 5th token comes ~300 ms later.
    expect(await limiter.takeMany("slow", 5)).toBe(5);
    expect(performance.now() - started).toBeGreaterThanOrEqual(280);
  });

  it("resolves an aborted takeMany with the tokens whose turn has come", async () => {
    const controller = new AbortController();
    const pending = limiter.takeMany("abort", 20, controller.signal);
    setTimeout(() => controller.abort(), 250);
    const granted = await pending;
    // 1 at once, then ~2 in 250 ms at 10 per second.
    expect(granted).toBeGreaterThanOrEqual(1);
    expect(granted).toBeLessThan(20);
  });

  it("throws BucketBlockedError while a bucket is blocked; a shorter block never shortens it", async () => {
    const until = await limiter.block("blocked", 5_000);
    expect((await limiter.block("blocked", 10)).getTime()).toBe(until.getTime());
    await expect(limiter.takeMany("blocked", 3)).rejects.toBeInstanceOf(BucketBlockedError);
    await expect(limiter.take("fast")).resolves.toBeUndefined();
  });

  it("recreates a configured bucket that disappeared, and refuses an unknown key", async () => {
    await db.pool.query("DELETE FROM rate_limit_buckets WHERE key = 'fast'");
    expect(await limiter.takeMany("fast", 2)).toBe(2);
    await expect(limiter.take("nope")).rejects.toThrow(/no rate limit bucket "nope"/);
  });
});
