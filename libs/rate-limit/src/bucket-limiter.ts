import type { Queryable } from "@syncwell/db";
import { sleep } from "@syncwell/runtime";

/**
 * Request limits shared by every replica: a token bucket per key in `rate_limit_buckets`, taken
 * with one atomic UPDATE (refill from the elapsed time, minus what is taken), so no limit lives in
 * a process's memory and N replicas together stay under it. Keys are namespaced by their user
 * (`poller:<platform>`, `refresh:<provider>`), so services never share a bucket by accident.
 *
 * Taking is a reservation: the bucket may go negative, and a request that got token number -k
 * waits k / refill seconds before it starts. Every request therefore has its own slot in the
 * shared schedule after one round trip, with no polling; the debt is bounded by the requests in
 * flight. Takes that arrive together in this process are folded into one UPDATE (`tokens - n`), so
 * the bucket row is written once per batch, not per request.
 *
 * A provider's `Retry-After` sets `blocked_until`: nothing is taken from that bucket until then, and
 * a take throws `BucketBlockedError`. Other buckets are unaffected.
 */

export type BucketSettings = { key: string; perSec: number; burst: number };

export class BucketBlockedError extends Error {
  override readonly name = "BucketBlockedError";
  readonly until: Date;
  readonly waitMs: number;
  constructor(key: string, until: Date, waitMs: number) {
    super(`requests to ${key} are blocked until ${until.toISOString()} (the provider asked to wait)`);
    this.until = until;
    this.waitMs = waitMs;
  }
}

export type RateLimiter = {
  /** Creates the buckets, or updates their capacity and refill rate (the latest configuration wins). */
  configure(buckets: readonly BucketSettings[]): Promise<void>;
  /** Waits for this request's turn; throws BucketBlockedError while the bucket is blocked. */
  take(key: string, signal?: AbortSignal): Promise<void>;
  /**
   * Waits until `n` requests may start (one reservation of `n` tokens); resolves to `n`, or early
   * to the number whose turn has come when `signal` aborts during the wait. Throws
   * BucketBlockedError while the bucket is blocked, and `signal.reason` if it aborted before the take.
   */
  takeMany(key: string, n: number, signal?: AbortSignal): Promise<number>;
  /** Blocks the bucket for `ms` from now (never shortens an existing block); returns the block's end. */
  block(key: string, ms: number): Promise<Date>;
};

type Waiter = {
  n: number;
  resolve: (granted: number) => void;
  reject: (err: unknown) => void;
  signal: AbortSignal | undefined;
};

export function createRateLimiter(db: Queryable, options: { batchWindowMs?: number } = {}): RateLimiter {
  // Takes within this window are folded into one UPDATE: a couple of milliseconds on requests that
  // take tens, for a fraction of the round trips to the bucket row.
  const batchWindowMs = options.batchWindowMs ?? 2;
  /** The settings each key was configured with, to recreate a bucket whose row has gone. */
  const configured = new Map<string, BucketSettings>();
  const enqueue = reservationBatcher(batchWindowMs, (key, n) => takeTokens(db, configured, key, n));

  return {
    async configure(buckets) {
      for (const b of buckets) configured.set(b.key, b);
      await upsertBuckets(db, buckets);
    },
    async take(key, signal) {
      await enqueue(key, 1, signal);
    },
    takeMany(key, n, signal) {
      if (!Number.isInteger(n) || n < 0)
        return Promise.reject(new RangeError("n must be a non-negative integer"));
      if (n === 0) return Promise.resolve(0);
      return enqueue(key, n, signal);
    },
    block: (key, ms) => blockBucket(db, key, ms),
  };
}

type Reservation = { tokensAfter: number; refill: number };

async function upsertBuckets(db: Queryable, buckets: readonly BucketSettings[]): Promise<void> {
  if (buckets.length === 0) return;
  await db.query(
    `INSERT INTO rate_limit_buckets (key, tokens, capacity, refill_per_sec, updated_at)
     SELECT key, burst, burst, per_sec, clock_timestamp()
     FROM unnest($1::text[], $2::float8[], $3::float8[]) AS t(key, burst, per_sec)
     ON CONFLICT (key) DO UPDATE
       SET capacity = EXCLUDED.capacity, refill_per_sec = EXCLUDED.refill_per_sec,
           tokens = LEAST(rate_limit_buckets.tokens, EXCLUDED.capacity)
       WHERE rate_limit_buckets.capacity IS DISTINCT FROM EXCLUDED.capacity
          OR rate_limit_buckets.refill_per_sec IS DISTINCT FROM EXCLUDED.refill_per_sec`,
    [buckets.map((b) => b.key), buckets.map((b) => b.burst), buckets.map((b) => b.perSec)],
  );
}

/**
 * Takes `n` tokens at once; resolves to the tokens left (possibly negative) and the refill rate.
 * A bucket whose row is missing is recreated from its configured settings and taken again.
 */
async function takeTokens(
  db: Queryable,
  configured: ReadonlyMap<string, BucketSettings>,
  key: string,
  n: number,
): Promise<Reservation> {
  for (let attempt = 0; ; attempt++) {
    const { rows } = await db.query<{ tokens: number; refill_per_sec: number }>({
      name: "rate-limit-bucket-take",
      text: `UPDATE rate_limit_buckets AS b
       SET tokens = LEAST(b.capacity, b.tokens + GREATEST(0, extract(epoch FROM clk.t - b.updated_at)) * b.refill_per_sec) - $2,
           updated_at = clk.t
       FROM (SELECT clock_timestamp() AS t) AS clk
       WHERE b.key = $1 AND (b.blocked_until IS NULL OR b.blocked_until <= clk.t)
       RETURNING b.tokens, b.refill_per_sec`,
      values: [key, n],
    });
    const row = rows[0];
    if (row) return { tokensAfter: row.tokens, refill: row.refill_per_sec };
    const state = await db.query<{ blocked_until: Date | null; wait_ms: number }>(
      `SELECT blocked_until, GREATEST(0, extract(epoch FROM blocked_until - clock_timestamp()) * 1000)::float8 AS wait_ms
       FROM rate_limit_buckets WHERE key = $1`,
      [key],
    );
    const bucket = state.rows[0];
    if (bucket?.blocked_until && bucket.wait_ms > 0) {
      throw new BucketBlockedError(key, bucket.blocked_until, bucket.wait_ms);
    }
    if (!bucket) {
      const settings = configured.get(key);
      if (!settings) throw new Error(`no rate limit bucket "${key}" is configured`);
      await upsertBuckets(db, [settings]);
    }
    if (attempt >= 3) throw new Error(`could not take a token from rate limit bucket "${key}"`);
  }
}

async function blockBucket(db: Queryable, key: string, ms: number): Promise<Date> {
  const { rows } = await db.query<{ blocked_until: Date }>(
    `UPDATE rate_limit_buckets
     SET blocked_until = GREATEST(coalesce(blocked_until, clock_timestamp()), clock_timestamp() + make_interval(secs => $2::float8 / 1000))
     WHERE key = $1 RETURNING blocked_until`,
    [key, Math.max(0, ms)],
  );
  return rows[0]?.blocked_until ?? new Date(Date.now() + ms);
}

/**
 * Queues takes per key and folds those of one batch window into one `take` of their sum; returns
 * the function that enqueues a take of `n` tokens and resolves when they may be used.
 */
function reservationBatcher(
  batchWindowMs: number,
  take: (key: string, n: number) => Promise<Reservation>,
): (key: string, n: number, signal: AbortSignal | undefined) => Promise<number> {
  const queues = new Map<string, Waiter[]>();
  /** Keys with a flush scheduled or running (it drains the queue, arrivals during its round trips included). */
  const flushing = new Set<string>();

  async function flush(key: string): Promise<void> {
    try {
      for (;;) {
        const queued = queues.get(key) ?? [];
        queues.delete(key);
        const batch = withoutAborted(queued);
        if (batch.length === 0) return;
        const total = batch.reduce((sum, waiter) => sum + waiter.n, 0);
        try {
          grantInTurn(batch, await take(key, total), total);
        } catch (err) {
          for (const waiter of batch) waiter.reject(err);
        }
      }
    } finally {
      flushing.delete(key);
    }
  }

  return (key, n, signal) =>
    new Promise<number>((resolve, reject) => {
      let queue = queues.get(key);
      if (!queue) {
        queue = [];
        queues.set(key, queue);
      }
      queue.push({ n, resolve, reject, signal });
      // Requests of the batch window are folded into one UPDATE; later ones wait for the next batch.
      if (!flushing.has(key)) {
        flushing.add(key);
        setTimeout(() => void flush(key), batchWindowMs);
      }
    });
}

/** Rejects the waiters whose signal has aborted; returns the others. */
function withoutAborted(queued: readonly Waiter[]): Waiter[] {
  const live: Waiter[] = [];
  for (const waiter of queued) {
    if (waiter.signal?.aborted) waiter.reject(waiter.signal.reason);
    else live.push(waiter);
  }
  return live;
}

/** Hands each waiter of a batch its tokens of one reservation of `total`, each when its slot comes. */
function grantInTurn(batch: readonly Waiter[], { tokensAfter, refill }: Reservation, total: number): void {
  const reservedAt = performance.now();
  let next = tokensAfter + total;
  for (const waiter of batch) {
    // This waiter holds token numbers next-1 … next-n: a negative one's slot comes that
    // many refills from now, so the waiter starts when its last token's slot comes.
    const first = next;
    next -= waiter.n;
    const last = next;
    const waitMs = last >= 0 ? 0 : Math.ceil((-last / refill) * 1000);
    if (waitMs === 0) {
      waiter.resolve(waiter.n);
      continue;
    }
    void sleep(waitMs, waiter.signal).then(() => {
      // Waited in full. (Not `elapsed >= waitMs`: a timer may fire a millisecond early by
      // performance.now(), which would hand back one token too few.)
      if (!waiter.signal?.aborted) return waiter.resolve(waiter.n);
      // Aborted during the wait: the tokens whose slot has come may still be used.
      const elapsed = performance.now() - reservedAt;
      const due = Math.floor(first + (elapsed / 1000) * refill);
      waiter.resolve(Math.max(0, Math.min(waiter.n, due)));
    });
  }
}
