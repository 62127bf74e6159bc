import type { AnyEvent } from "@syncwell/contracts";
import { type RepeatedFailureLog, repeatedFailureLog } from "@syncwell/telemetry";
import type { Pool } from "pg";
import type { Logger } from "pino";
import type { BusMetrics } from "../metrics.ts";
import { type RetryPolicy, retryDelayMs } from "../retry-policy.ts";
import { contextFromRecord } from "../trace-context.ts";
import { NotificationListener } from "./listener.ts";

export const OUTBOX_CHANNEL = "syncwell_outbox";

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
};

export type OutboxRelay = {
  /** Publishes everything pending now; resolves when the outbox was empty at some point. */
  flush(): Promise<void>;
  stop(): Promise<void>;
};

type Row = { id: string; payload: AnyEvent; trace_headers: Record<string, string> };

/**
 * Delays between failed rounds while Postgres or NATS is down. A notification (or LISTEN coming
 * back) ends a delay early: something was just committed, so Postgres answers again.
 */
const FAILURE_BACKOFF: RetryPolicy = {
  maxDeliver: Number.POSITIVE_INFINITY,
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
  private draining: Promise<void> | undefined;
  private again = false;
  private endBackoff: (() => void) | undefined;

  constructor(options: OutboxRelayOptions) {
    this.options = options;
    this.log = options.logger.child({ component: "outbox-relay" });
    this.batchSize = options.batchSize ?? 200;
    this.pollIntervalMs = options.pollIntervalMs ?? 1_000;
    this.retentionMs = options.retentionMs ?? 24 * 60 * 60 * 1000;
    this.failures = repeatedFailureLog(this.log, "relaying the outbox");
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

  async flush(): Promise<void> {
    await this.wake();
    while (this.draining) await this.draining;
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const timer of this.timers) clearInterval(timer);
    this.endBackoff?.();
    // Publish what is already committed before going away (one attempt), then stop.
    await this.flush().catch(() => undefined);
    this.stopped = true;
    if (this.draining) await this.draining;
    await this.listener.stop();
    this.log.info("outbox relay stopped");
  }

  /** A notification: Postgres is reachable, so a failed round need not wait out its delay. */
  private nudge(): void {
    this.endBackoff?.();
    void this.wake();
  }

  private wake(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.draining) {
      this.again = true;
      return this.draining;
    }
    this.draining = this.drain().finally(() => {
      this.draining = undefined;
    });
    return this.draining;
  }

  private async drain(): Promise<void> {
    do {
      this.again = false;
      try {
        let n: number;
        do {
          n = await publishBatch(this.options, this.batchSize);
        } while (n === this.batchSize && !this.stopped);
        this.failures.succeeded();
      } catch (err) {
        this.failures.failed(err);
        if (!this.stopping) {
          await this.backoff(retryDelayMs(FAILURE_BACKOFF, this.failures.consecutive));
          this.again = true;
        }
      }
      await measureLag(this.options).catch((err) => this.log.debug({ err }, "could not measure outbox lag"));
      // Checked after the last await: a wake-up that came in during any of them (it only sets
      // `again` while this drain runs) is acted on here, never lost until the next poll.
    } while (this.again && !this.stopped);
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

/** Publishes one batch of pending rows and marks them; resolves how many rows it took. */
async function publishBatch(options: OutboxRelayOptions, batchSize: number): Promise<number> {
  const client = await options.pool.connect();
  try {
    await client.query("BEGIN");
    const { rows } = await client.query<Row>(
      `SELECT id, payload, trace_headers FROM outbox_events
       WHERE published_at IS NULL ORDER BY created_at, id LIMIT $1 FOR UPDATE SKIP LOCKED`,
      [batchSize],
    );
    if (rows.length === 0) {
      await client.query("COMMIT");
      return 0;
    }
    const results = await Promise.allSettled(
      rows.map((row) => options.publish(row.payload, contextFromRecord(row.trace_headers))),
    );
    const sent: string[] = [];
    const failed: { id: string; error: string }[] = [];
    results.forEach((r, i) => {
      const id = (rows[i] as Row).id;
      if (r.status === "fulfilled") sent.push(id);
      else failed.push({ id, error: (r.reason as Error).message });
    });
    if (sent.length > 0) {
      await client.query(
        "UPDATE outbox_events SET published_at = now(), attempts = attempts + 1 WHERE id = ANY($1::uuid[])",
        [sent],
      );
    }
    for (const f of failed) {
      await client.query("UPDATE outbox_events SET attempts = attempts + 1, last_error = $2 WHERE id = $1", [
        f.id,
        f.error.slice(0, 2_000),
      ]);
    }
    await client.query("COMMIT");
    if (failed.length > 0) {
      throw new Error(
        `${failed.length} of ${rows.length} outbox events failed to publish: ${failed[0]?.error}`,
      );
    }
    return rows.length;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

async function measureLag(options: OutboxRelayOptions): Promise<void> {
  const { rows } = await options.pool.query<{ pending: string; oldest: Date | null }>(
    "SELECT count(*) AS pending, min(created_at) AS oldest FROM outbox_events WHERE published_at IS NULL",
  );
  const row = rows[0];
  options.metrics.outboxPending.set(Number(row?.pending ?? 0));
  options.metrics.outboxLag.set(row?.oldest ? Math.max(0, (Date.now() - row.oldest.getTime()) / 1000) : 0);
}
