import type { Queryable } from "@syncwell/db";
import { BucketBlockedError, createRateLimiter, type RateLimiter } from "@syncwell/rate-limit";
import { sleep } from "@syncwell/runtime";

/** Requests per second to each provider, shared by every replica of the service. */
export type ProviderRateLimiter = {
  /**
   * Waits until `n` requests to `provider` may start. Resolves early with the number granted so
   * far when `signal` aborts (the caller releases what it cannot start).
   */
  take(provider: string, n: number, signal?: AbortSignal): Promise<number>;
  /** The provider asked to wait (a 429): no replica takes from its bucket for `ms`. */
  block?(provider: string, ms: number): Promise<void>;
};

/** The token service's bucket of a provider in `rate_limit_buckets` (the poller's are `poller:<platform>`). */
export function refreshBucketKey(provider: string): string {
  return `refresh:${provider}`;
}

/**
 * Per-provider limits shared across replicas through Postgres: the shared token buckets of
 * `@syncwell/rate-limit` (table `rate_limit_buckets`, one row per provider, refilled at the
 * provider's limit, holding at most one second of it), so three replicas together stay under a
 * provider's limit rather than each using all of it.
 *
 * A lane's requests are taken together (one reservation of `n` tokens, folded with the other
 * lanes' takes into one UPDATE). While a provider's bucket is blocked (a 429's Retry-After, from
 * any replica), takes wait for the block to end.
 */
export function createPostgresRateLimiter(
  db: Queryable,
  limitsPerSec: ReadonlyMap<string, number>,
  options: { buckets?: RateLimiter } = {},
): ProviderRateLimiter {
  const buckets = options.buckets ?? createRateLimiter(db);
  let configured: Promise<void> | undefined;
  const configure = (): Promise<void> => {
    configured ??= buckets
      .configure(
        [...limitsPerSec].map(([provider, perSec]) => ({
          key: refreshBucketKey(provider),
          perSec,
          burst: Math.max(1, perSec),
        })),
      )
      .catch((err: unknown) => {
        configured = undefined;
        throw err;
      });
    return configured;
  };

  return {
    async take(provider, n, signal) {
      if (!limitsPerSec.has(provider) || n <= 0) return n;
      await configure();
      for (;;) {
        if (signal?.aborted) return 0;
        try {
          return await buckets.takeMany(refreshBucketKey(provider), n, signal);
        } catch (err) {
          if (signal?.aborted) return 0;
          if (!(err instanceof BucketBlockedError)) throw err;
          // Wait for the block to end; a little jitter keeps the replicas from colliding on it.
          await sleep(err.waitMs + Math.floor(Math.random() * 25), signal);
        }
      }
    },
    async block(provider, ms) {
      if (!limitsPerSec.has(provider)) return;
      await configure();
      await buckets.block(refreshBucketKey(provider), ms);
    },
  };
}

/** No limit at all (a provider without one, or unit tests). */
export const unlimited: ProviderRateLimiter = { take: async (_provider, n) => n };
