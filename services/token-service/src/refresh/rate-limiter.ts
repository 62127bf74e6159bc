import type pg from "pg";
import { RateLimiterPostgres, RateLimiterRes } from "rate-limiter-flexible";
import { sleep } from "./sleep.ts";

/** Requests per second to each provider, shared by every replica of the service. */
export type ProviderRateLimiter = {
  /**
   * Waits until `n` requests to `provider` may start. Resolves early with the number granted so
   * far when `signal` aborts (the caller releases what it cannot start).
   */
  take(provider: string, n: number, signal?: AbortSignal): Promise<number>;
};

/** Table rate-limiter-flexible keeps its counters in (it creates it if missing). */
export const RATE_LIMIT_TABLE = "token_refresh_rate_limits";

/**
 * Per-provider limits shared across replicas through Postgres (rate-limiter-flexible's Postgres
 * store: one counter row per provider and one-second window, updated atomically by an upsert), so
 * three replicas together stay under a provider's limit rather than each using all of it.
 *
 * Requests are taken in chunks (one round trip per chunk, not per request). A refused chunk still
 * counts against the window it was refused in, which can only make the replicas slower than the
 * limit for the rest of that second, never faster.
 */
export function createPostgresRateLimiter(
  pool: pg.Pool,
  limitsPerSec: ReadonlyMap<string, number>,
  options: { tableName?: string; keyPrefix?: string } = {},
): ProviderRateLimiter {
  // Created on first use: the store creates its table asynchronously (race-safe across replicas).
  const limiters = new Map<string, Promise<{ limiter: RateLimiterPostgres; points: number }>>();
  const limiterFor = (provider: string) => {
    let entry = limiters.get(provider);
    const perSec = limitsPerSec.get(provider);
    if (!entry && perSec !== undefined) {
      const points = Math.max(1, Math.floor(perSec));
      entry = new Promise((resolve, reject) => {
        const limiter: RateLimiterPostgres = new RateLimiterPostgres(
          {
            storeClient: pool,
            storeType: "pool",
            tableName: options.tableName ?? RATE_LIMIT_TABLE,
            keyPrefix: options.keyPrefix ?? "refresh",
            points,
            duration: 1,
          },
          (err?: Error) => (err ? reject(err) : resolve({ limiter, points })),
        );
      });
      entry.catch(() => limiters.delete(provider));
      limiters.set(provider, entry);
    }
    return entry;
  };

  return {
    async take(provider, n, signal) {
      const pending = limiterFor(provider);
      if (!pending) return n;
      const entry = await pending;
      let granted = 0;
      while (granted < n) {
        if (signal?.aborted) return granted;
        const chunk = Math.min(n - granted, entry.points);
        try {
          await entry.limiter.consume(provider, chunk);
          granted += chunk;
        } catch (err) {
          if (!(err instanceof RateLimiterRes)) throw err;
          // Wait for the next window; a little jitter keeps the replicas from colliding on it.
          await sleep(Math.max(10, err.msBeforeNext) + Math.floor(Math.random() * 25), signal);
        }
      }
      return granted;
    },
  };
}

/** No limit at all (a provider without one, or unit tests). */
export const unlimited: ProviderRateLimiter = { take: async (_provider, n) => n };
