import type { AnyEvent } from "@syncwell/contracts";
import type { Pool, PoolClient } from "pg";
import type { Logger } from "pino";
import type { BusMetrics } from "../metrics.ts";
import { contextFromRecord } from "../trace-context.ts";

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
 * Publishes outbox rows to JetStream. Woken by NOTIFY from the insert trigger, so an event leaves
 * within milliseconds of its commit; a slow poll covers missed notifications. Rows are claimed with
 * FOR UPDATE SKIP LOCKED, so any number of replicas relay without publishing a row twice at once;
 * a crash after publish but before marking the row republishes it with the same Nats-Msg-Id, which
 * the stream's duplicate window drops.
 */
export async function startOutboxRelay(options: OutboxRelayOptions): Promise<OutboxRelay> {
  const { pool, logger, metrics } = options;
  const batchSize = options.batchSize ?? 200;
  const pollIntervalMs = options.pollIntervalMs ?? 1_000;
  const retentionMs = options.retentionMs ?? 24 * 60 * 60 * 1000;
  const log = logger.child({ component: "outbox-relay" });

  let stopped = false;
  let draining: Promise<void> | undefined;
  let again = false;
  let listener: PoolClient | undefined;
  let failures = 0;

  async function drainOnce(): Promise<number> {
    const client = await pool.connect();
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
        await client.query(
          "UPDATE outbox_events SET attempts = attempts + 1, last_error = $2 WHERE id = $1",
          [f.id, f.error.slice(0, 2_000)],
        );
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

  async function measureLag(): Promise<void> {
    const { rows } = await pool.query<{ pending: string; oldest: Date | null }>(
      "SELECT count(*) AS pending, min(created_at) AS oldest FROM outbox_events WHERE published_at IS NULL",
    );
    const row = rows[0];
    metrics.outboxPending.set(Number(row?.pending ?? 0));
    metrics.outboxLag.set(row?.oldest ? Math.max(0, (Date.now() - row.oldest.getTime()) / 1000) : 0);
  }

  async function drain(): Promise<void> {
    do {
      again = false;
      try {
        let n: number;
        do {
          n = await drainOnce();
        } while (n === batchSize && !stopped);
        failures = 0;
      } catch (err) {
        failures++;
        log.error({ err, failures }, "outbox relay failed; will retry");
        // Back off while NATS or Postgres is down instead of spinning.
        await new Promise((r) => setTimeout(r, Math.min(30_000, 250 * 2 ** Math.min(failures, 7))));
        again = !stopped;
      }
      await measureLag().catch((err) => log.debug({ err }, "could not measure outbox lag"));
      // Checked after the last await: a wake-up that came in during any of them (it only sets
      // `again` while this drain runs) is acted on here, never lost until the next poll.
    } while (again && !stopped);
  }

  function wake(): Promise<void> {
    if (stopped) return Promise.resolve();
    if (draining) {
      again = true;
      return draining;
    }
    draining = drain().finally(() => {
      draining = undefined;
    });
    return draining;
  }

  async function listen(): Promise<void> {
    try {
      listener = await pool.connect();
      listener.on("notification", () => void wake());
      listener.on("error", (err) => {
        log.warn({ err }, "outbox LISTEN connection lost; reconnecting");
        listener?.release(err);
        listener = undefined;
        if (!stopped) setTimeout(() => void listen(), 1_000);
      });
      await listener.query(`LISTEN ${OUTBOX_CHANNEL}`);
    } catch (err) {
      log.warn({ err }, "could not LISTEN for outbox notifications; polling only");
      listener?.release(err as Error);
      listener = undefined;
      if (!stopped) setTimeout(() => void listen(), 5_000);
    }
  }

  async function prune(): Promise<void> {
    const res = await pool.query(
      "DELETE FROM outbox_events WHERE published_at < now() - make_interval(secs => $1)",
      [retentionMs / 1000],
    );
    if (res.rowCount) log.debug({ deleted: res.rowCount }, "pruned published outbox events");
  }

  await listen();
  const poll = setInterval(() => void wake(), pollIntervalMs);
  const pruneTimer = setInterval(
    () => void prune().catch((err) => log.warn({ err }, "outbox prune failed")),
    600_000,
  );
  poll.unref();
  pruneTimer.unref();
  // Whatever a previous process committed but never published goes out now.
  void wake();
  log.info({ batchSize, pollIntervalMs }, "outbox relay started");

  async function flush(): Promise<void> {
    await wake();
    while (draining) await draining;
  }

  return {
    flush,
    async stop() {
      if (stopped) return;
      // Publish what is already committed before going away, then stop.
      await flush().catch(() => undefined);
      stopped = true;
      clearInterval(poll);
      clearInterval(pruneTimer);
      if (draining) await draining;
      if (listener) {
        await listener.query(`UNLISTEN ${OUTBOX_CHANNEL}`).catch(() => undefined);
        listener.release();
        listener = undefined;
      }
      log.info("outbox relay stopped");
    },
  };
}
