import { describe, expect, it } from "vitest";
import { TokenBuckets } from "./rate-limit.ts";

describe("TokenBuckets", () => {
  it("allows a burst, then refills at the configured rate", () => {
    const buckets = new TokenBuckets();
    const config = { requestsPerSecond: 2, burst: 2 };
    expect(buckets.take("k", config, 0)).toEqual({ ok: true });
    expect(buckets.take("k", config, 0)).toEqual({ ok: true });
    expect(buckets.take("k", config, 0)).toEqual({ ok: false, retryAfterSeconds: 1 });
    expect(buckets.take("other", config, 0)).toEqual({ ok: true });
    expect(buckets.take("k", config, 500)).toEqual({ ok: true });
    expect(buckets.take("k", config, 500)).toMatchObject({ ok: false });
  });

  it("rounds Retry-After up to whole seconds", () => {
    const buckets = new TokenBuckets();
    const config = { requestsPerSecond: 0.2, burst: 1 };
    expect(buckets.take("k", config, 0).ok).toBe(true);
    expect(buckets.take("k", config, 0)).toEqual({ ok: false, retryAfterSeconds: 5 });
  });
});
