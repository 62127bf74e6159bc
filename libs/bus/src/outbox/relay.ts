import type { AnyEvent } from "@syncwell/contracts";
import { type Backoff, backoffDelayMs } from "@syncwell/runtime/backoff";
import { WakeLoop } from "@syncwell/runtime/wake-loop";
import { type RepeatedFailureLog, repeatedFailureLog, withoutTracing } from "@syncwell/telemetry";
import type { Pool, PoolClient } from "pg";
import type { Logger } from "pino";
import type { BusMetrics } from "../metrics.ts";
import { PublishValidationError } from "../publisher.ts";
import { contextFromRecord } from "../trace-context.ts";
import { NotificationListener } from "./listener.ts";

export const OUTBOX_CHANNEL = "syncwell_outbox";
/** Failed publishes of one row before it is set aside. */
const DEFAULT_MAX_ATTEMPTS = 5;

export type OutboxRelayOptions = {
  pool: Pool;
  publish: (event: AnyEvent, parent: ReturnType<typeof contextFromRecord>) => Promise<unknown>;
  logger: Logger;
  metrics: BusMetrics;
  /** Rows claimed per round trip. */
  batchSize?: number;
  /** Safety net when a notification is missed (the LISTEN connection dropped, for example). */
  pollIntervalMs?: number;
  /** Published rows are deleted after this long. */
  retentionMs?: number;
  /**
   * Relay only the rows this service wrote (the envelope's `source`, normally the service name).
   * Undefined: every row, for a relay deployed on purpose for all services (and for tests).
   */
  source?: string | undefined;
  /** Failed publishes of one row (while others go through) before it is set aside. */
  maxAttempts?: number;
};

export type OutboxRelay = {
  /** Publishes everything pending now; resolves when the outbox was empty at some point. */
  flush(): Promise<void>;
  stop(): Promise<void>;
};

type Row = {
  id: string;
  type: string;
  attempts: number;
  payload: AnyEvent;
  trace_headers: Record<string, string>;
};

/**
 * Delays between failed rounds while Postgres or NATS is down. A notification (or LISTEN coming
 * back) ends a delay early: something was just committed, so Postgres answers again.
 */
const FAILURE_BACKOFF: Backoff = {
  initialDelayMs: 250,
  maxDelayMs: 5_000,
  factor: 2,
};

/**
 * Publishes outbox rows to JetStream. Woken by NOTIFY from the insert trigger, so an event leaves
 * within milliseconds of its commit; a slow poll covers missed notifications. Rows are claimed with
 * FOR UPDATE SKIP LOCKED, so any number of replicas relay without publishing a row twice at once;
 * a crash after publish but before marking the row republishes it with the same Nats-Msg-Id, which
 * the stream's duplicate window drops. Through an outage of Postgres or NATS it keeps retrying with
 * growing delays and one log line per interval, and its LISTEN connection comes back by itself.
 */
export async function startOutboxRelay(options: OutboxRelayOptions): Promise<OutboxRelay> {
  const relay = new Relay(options);
  await relay.start();
  return { flush: () => relay.flush(), stop: () => relay.stop() };
}

class Relay {
  private readonly options: OutboxRelayOptions;
  private readonly log: Logger;
  private readonly batchSize: number;
  private readonly pollIntervalMs: number;
  private readonly retentionMs: number;
  private readonly failures: RepeatedFailureLog;
  private readonly listener: NotificationListener;
  private timers: NodeJS.Timeout[] = [];
  /** Set once stop() begins: the final flush makes one attempt, no retries. */
  private stopping = false;
  private stopped = false;
  private readonly loop: WakeLoop;
  private endBackoff: (() => void) | undefined;

  constructor(options: OutboxRelayOptions) {
    this.options = options;
    this.log = options.logger.child({ component: "outbox-relay" });
    this.batchSize = options.batchSize ?? 200;
    this.pollIntervalMs = options.pollIntervalMs ?? 1_000;
    this.retentionMs = options.retentionMs ?? 24 * 60 * 60 * 1000;
    this.failures = repeatedFailureLog(this.log, "relaying the outbox");
    this.loop = new WakeLoop({
      pass: () => this.drain(),
      stopped: () => this.stopped,
      // Polling makes no spans; each publish continues the trace stored with its row.
      wrap: (loop) => withoutTracing(loop),
    });
    this.listener = new NotificationListener({
      pool: options.pool,
      channel: OUTBOX_CHANNEL,
      logger: this.log,
      onNotify: () => this.nudge(),
      // Commits made while LISTEN was down sent notifications nobody heard.
      onRestored: () => this.nudge(),
    });
  }

  async start(): Promise<void> {
    await this.listener.start();
    const poll = setInterval(() => void this.wake(), this.pollIntervalMs);
    const prune = setInterval(
      () => void this.prune().catch((err) => this.log.warn({ err }, "outbox prune failed")),
      600_000,
    );
    poll.unref();
    prune.unref();
    this.timers = [poll, prune];
    // Whatever a previous process committed but never published goes out now.
    void this.wake();
    this.log.info({ batchSize: this.batchSize, pollIntervalMs: this.pollIntervalMs }, "outbox relay started");
  }

  flush(): Promise<void> {
    return this.loop.flush();
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const timer of this.timers) clearInterval(timer);
    this.endBackoff?.();
    // Publish what is already committed before going away (one attempt), then stop.
    await this.flush().catch(() => undefined);
    this.stopped = true;
    await this.loop.running;
    await this.listener.stop();
    this.log.info("outbox relay stopped");
  }

  /** A notification: Postgres is reachable, so a failed round need not wait out its delay. */
  private nudge(): void {
    this.endBackoff?.();
    void this.wake();
  }

  private wake(): Promise<void> {
    return this.loop.wake();
  }

  /** One pass: batches until the outbox is empty; resolves true to go again after a failure's backoff. */
  private async drain(): Promise<boolean> {
    let again = false;
    try {
      let n: number;
      const failedThisRound: string[] = [];
      do {
        n = await publishBatch(this.options, this.batchSize, this.log, failedThisRound);
      } while (n === this.batchSize && !this.stopped);
      this.failures.succeeded();
    } catch (err) {
      this.failures.failed(err);
      if (!this.stopping) {
        await this.backoff(backoffDelayMs(FAILURE_BACKOFF, this.failures.consecutive));
        again = true;
      }
    }
    await measureLag(this.options).catch((err) => this.log.debug({ err }, "could not measure outbox lag"));
    return again;
  }

  private backoff(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.endBackoff = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.endBackoff = done;
    });
  }

  private async prune(): Promise<void> {
    const res = await this.options.pool.query(
      "DELETE FROM outbox_events WHERE published_at < now() - make_interval(secs => $1)",
      [this.retentionMs / 1000],
    );
    if (res.rowCount) this.log.debug({ deleted: res.rowCount }, "pruned published outbox events");
  }
}

/** The rows of one round: claimed with FOR UPDATE SKIP LOCKED, oldest first, this relay's source only. */
const SELECT_PENDING = `SELECT id, type, attempts, payload, trace_headers FROM outbox_events
  WHERE published_at IS NULL AND set_aside_at IS NULL AND ($2::text IS NULL OR source = $2)
    AND id <> ALL ($3::uuid[])
  ORDER BY created_at, id LIMIT $1 FOR UPDATE SKIP LOCKED`;

type Failure = { row: Row; error: unknown };

/**
 * Publishes one batch of pending rows and marks them; resolves how many rows it took. Rows that
 * failed earlier in the same round (`failedEarlier`, appended to) are left for a later round.
 *
 * A round in which every row failed for a reason other than its own content is an outage (NATS
 * away): nothing is marked and it throws, so the relay backs off. Otherwise each failed row counts
 * an attempt, and a row that failed `maxAttempts` times (an event its contracts no longer accept,
 * one too large for the stream) is set aside with its reason, so it never holds up the rows behind it.
 */
async function publishBatch(
  options: OutboxRelayOptions,
  batchSize: number,
  log: Logger,
  failedEarlier: string[],
): Promise<number> {
  const client = await options.pool.connect();
  try {
    await client.query("BEGIN");
    const { rows } = await client.query<Row>(SELECT_PENDING, [
      batchSize,
      options.source ?? null,
      failedEarlier,
    ]);
    const results = await Promise.allSettled(
      rows.map((row) => options.publish(row.payload, contextFromRecord(row.trace_headers))),
    );
    const sent = rows.filter((_, i) => results[i]?.status === "fulfilled").map((row) => row.id);
    const failed: Failure[] = [];
    results.forEach((r, i) => {
      if (r.status === "rejected") failed.push({ row: rows[i] as Row, error: r.reason });
    });
    if (
      failed.length > 0 &&
      sent.length === 0 &&
      !failed.some((f) => f.error instanceof PublishValidationError)
    ) {
      throw new Error(
        `none of ${rows.length} outbox events could be published: ${errorText(failed[0]?.error)}`,
      );
    }
    if (sent.length > 0) {
      await client.query(
        "UPDATE outbox_events SET published_at = now(), attempts = attempts + 1 WHERE id = ANY($1::uuid[])",
        [sent],
      );
    }
    for (const failure of failed) await recordFailure(client, options, failure, log);
    await client.query("COMMIT");
    // Tried again in a later round, not in this one: the rows behind them go first.
    for (const failure of failed) failedEarlier.push(failure.row.id);
    return rows.length;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** Counts a failed attempt of one row; sets the row aside once it has failed `maxAttempts` times. */
async function recordFailure(
  client: PoolClient,
  options: OutboxRelayOptions,
  { row, error }: Failure,
  log: Logger,
): Promise<void> {
  const reason = errorText(error).slice(0, 2_000);
  const attempts = row.attempts + 1;
  const setAside = attempts >= (options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
  await client.query(
    `UPDATE outbox_events SET attempts = $2, last_error = $3,
       set_aside_at = CASE WHEN $4 THEN now() END, set_aside_reason = CASE WHEN $4 THEN $3 END
     WHERE id = $1`,
    [row.id, attempts, reason, setAside],
  );
  if (!setAside) return;
  options.metrics.outboxSetAside.inc({ type: row.type });
  log.error(
    { eventId: row.id, eventType: row.type, attempts, reason },
    "outbox event set aside: it failed to publish too often; the rest of the outbox goes on. List and retry set-aside events with `npm run outbox -- list` / `-- retry`",
  );
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function measureLag(options: OutboxRelayOptions): Promise<void> {
  // Two counts, each through its partial index: one over all rows not yet published would read
  // the published ones the table keeps for its retention too.
  const { rows } = await options.pool.query<{ pending: string; oldest: Date | null; set_aside: string }>(
    `SELECT (SELECT count(*) FROM outbox_events
             WHERE published_at IS NULL AND set_aside_at IS NULL AND ($1::text IS NULL OR source = $1)) AS pending,
            (SELECT min(created_at) FROM outbox_events
             WHERE published_at IS NULL AND set_aside_at IS NULL AND ($1::text IS NULL OR source = $1)) AS oldest,
            (SELECT count(*) FROM outbox_events
             WHERE published_at IS NULL AND set_aside_at IS NOT NULL AND ($1::text IS NULL OR source = $1)) AS set_aside`,
    [options.source ?? null],
  );
  const row = rows[0];
  options.metrics.outboxPending.set(Number(row?.pending ?? 0));
  options.metrics.outboxSetAsideWaiting.set(Number(row?.set_aside ?? 0));
  options.metrics.outboxLag.set(row?.oldest ? Math.max(0, (Date.now() - row.oldest.getTime()) / 1000) : 0);
}
