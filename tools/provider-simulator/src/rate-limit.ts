/**
 * In-memory token buckets, one per (provider, client). The simulator is a single process, so the
 * Postgres-backed limiter the services use would be overkill here.
 */
export type RateLimitConfig = {
  /** Sustained requests per second per client. */
  requestsPerSecond: number;
  /** Bucket size (burst); defaults to requestsPerSecond. */
  burst: number;
};

export type RateLimitDecision = { ok: true } | { ok: false; retryAfterSeconds: number };

type Bucket = { tokens: number; updatedAt: number };

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();

  take(key: string, config: RateLimitConfig, now: number): RateLimitDecision {
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      bucket = { tokens: config.burst, updatedAt: now };
      this.buckets.set(key, bucket);
    } else {
      const refill = ((now - bucket.updatedAt) / 1000) * config.requestsPerSecond;
      bucket.tokens = Math.min(config.burst, bucket.tokens + refill);
      bucket.updatedAt = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    const waitSeconds = (1 - bucket.tokens) / config.requestsPerSecond;
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(waitSeconds)) };
  }

  /** Forget the buckets of one provider (its limit changed) or of all. */
  clear(prefix?: string): void {
    if (prefix === undefined) {
      this.buckets.clear();
      return;
    }
    for (const key of this.buckets.keys()) if (key.startsWith(prefix)) this.buckets.delete(key);
  }
}
