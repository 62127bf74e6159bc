import { type Backoff, backoffDelayMs } from "@syncwell/runtime/backoff";
import { type RepeatedFailureLog, repeatedFailureLog } from "@syncwell/telemetry";
import type { Pool, PoolClient } from "pg";
import type { Logger } from "pino";

export type NotificationListenerOptions = {
  pool: Pool;
  /** A trusted identifier (it goes into `LISTEN` as is). */
  channel: string;
  logger: Logger;
  /** A notification arrived on the channel. */
  onNotify: () => void;
  /** LISTEN is in place again after it was lost (notifications in between were missed). */
  onRestored: () => void;
};

/** Reconnect delays of a lost LISTEN connection: soon at first, then every few seconds. */
const RECONNECT_BACKOFF: Backoff = {
  initialDelayMs: 500,
  maxDelayMs: 5_000,
  factor: 2,
};

/**
 * A LISTEN connection that comes back by itself. The connection is held from the pool for as long
 * as the listener runs; when it drops (Postgres restarted, network cut) it is discarded and a new
 * one is set up with growing delays until Postgres answers again. Each client gets its own error
 * listener and only the current client's first error counts: pg reports a dropped connection
 * twice (the socket error, then "Connection terminated"), and reacting to both would open two
 * connections, one of them never released.
 */
export class NotificationListener {
  private readonly options: NotificationListenerOptions;
  private readonly failures: RepeatedFailureLog;
  private client: PoolClient | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private lostOnce = false;

  constructor(options: NotificationListenerOptions) {
    this.options = options;
    this.failures = repeatedFailureLog(options.logger, `listening on ${options.channel}`, {
      level: "warn",
      next: "polling meanwhile, reconnecting",
    });
  }

  get listening(): boolean {
    return this.client !== undefined;
  }

  /** Resolves after the first attempt, successful or not (a failed one is retried in the background). */
  async start(): Promise<void> {
    await this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    await client.query(`UNLISTEN ${this.options.channel}`).catch(() => undefined);
    client.release();
  }

  private async connect(): Promise<void> {
    this.retryTimer = undefined;
    if (this.stopped) return;
    let client: PoolClient | undefined;
    try {
      client = await this.options.pool.connect();
      const own = client;
      own.on("notification", () => this.options.onNotify());
      own.on("error", (err) => this.lost(own, err));
      await own.query(`LISTEN ${this.options.channel}`);
    } catch (err) {
      client?.release(err as Error);
      this.failures.failed(err);
      this.retryLater();
      return;
    }
    if (this.stopped) {
      client.release();
      return;
    }
    this.client = client;
    this.failures.succeeded();
    if (this.lostOnce) this.options.onRestored();
  }

  private lost(client: PoolClient, err: Error): void {
    if (this.client !== client) return;
    this.client = undefined;
    client.release(err);
    this.failures.failed(err);
    this.retryLater();
  }

  private retryLater(): void {
    if (this.stopped) return;
    this.lostOnce = true;
    const delay = backoffDelayMs(RECONNECT_BACKOFF, this.failures.consecutive);
    this.retryTimer = setTimeout(() => void this.connect(), delay);
    // The service's HTTP server keeps the process alive; a pending reconnect must not.
    this.retryTimer.unref();
  }
}
