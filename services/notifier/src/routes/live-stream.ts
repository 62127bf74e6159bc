import type { ServerResponse } from "node:http";
import type { Queryable } from "@syncwell/db";
import type { FastifyBaseLogger } from "fastify";
import type { NotificationChange } from "../domain/live-changes.ts";
import { Horizon, type StreamPosition } from "../domain/stream-position.ts";
import type { StreamListener } from "../engine/live-streams.ts";
import { changesAfter } from "../repositories/user-notifications.repository.ts";
import { toNotificationView } from "./notification-view.ts";

/** Changes read per query when a stream catches up. */
const PAGE = 100;

/** A client that lets this much pile up unread is cut off; it resumes with its Last-Event-ID. */
const MAX_BUFFERED_BYTES = 1 << 20;

export type LiveStreamDeps = {
  db: Queryable;
  userId: string;
  raw: ServerResponse;
  log: FastifyBaseLogger;
  heartbeatMs: number;
  /** Called once, when the stream has ended (the client left, or `end`). */
  onClose: () => void;
};

/**
 * One open Server-Sent Events stream of one user: sends the user's changes after its position as
 * `notification` events whose id is the position (`StreamPosition`). It reads when a change is
 * announced, when a sent change has had time to settle (so a lower seq that committed late is
 * found and the id becomes a plain seq), and at every heartbeat (a lost announcement is made good
 * within one). Reads never overlap; an announcement during a read causes one more.
 */
export class LiveStream implements StreamListener {
  private readonly horizon = new Horizon();
  private reading = false;
  private again = false;
  private closed = false;
  private settleTimer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly deps: LiveStreamDeps;
  private readonly position: StreamPosition;
  /** The id the client was last given; it started from the position it was opened at. */
  private lastId: string;

  constructor(deps: LiveStreamDeps, position: StreamPosition) {
    this.deps = deps;
    this.position = position;
    this.lastId = String(position);
    deps.raw.on("close", () => this.stop());
  }

  /** Once the response's head is written: the first read, then heartbeats. */
  start(): void {
    if (this.closed || this.heartbeat) return;
    this.heartbeat = setInterval(() => {
      this.write(": heartbeat\n\n");
      this.read();
    }, this.deps.heartbeatMs);
    this.read();
  }

  changed(change: NotificationChange): void {
    const seq = BigInt(change.seq);
    this.horizon.observe(Date.now(), seq);
    // A read the announcement of another change started may have sent this one already (a batch
    // announces each of its changes after one commit): nothing is left to read for it then.
    if (!this.position.has(seq)) this.read();
  }

  end(): void {
    this.deps.raw.end();
    this.stop();
  }

  /** Whether the stream has ended (or its client left). */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Reads what the client has not been sent, unless a read is running (it then runs once more). */
  read(): void {
    // Before `start` the response has no head yet; `start` reads.
    if (this.closed || !this.heartbeat) return;
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = true;
    void this.readUntilQuiet().finally(() => {
      this.reading = false;
    });
  }

  private async readUntilQuiet(): Promise<void> {
    do {
      this.again = false;
      try {
        await this.readOnce();
      } catch (err) {
        // The next announcement or heartbeat reads again.
        this.deps.log.warn({ err }, "a live stream could not read its changes");
        return;
      }
    } while (this.again && !this.closed);
  }

  /**
   * Reads the changes after the settled point a page at a time, each page waiting for the client
   * to take the one before. The point advances behind each row sent, up to the horizon as it was
   * when the read began (everything at or below it had committed by then, so this read sees it).
   */
  private async readOnce(): Promise<void> {
    const started = Date.now();
    let after = this.position.settled;
    for (;;) {
      const rows = await changesAfter(this.deps.db, this.deps.userId, after, PAGE);
      const last = rows.at(-1);
      if (last === undefined || this.closed) break;
      this.horizon.observe(Date.now(), last.seq);
      for (const row of rows) {
        this.horizon.observe(this.horizon.takenBy(row.updatedAt), row.seq);
        const fresh = this.position.take([row]).length > 0;
        const horizon = this.horizon.at(started);
        // biome-ignore lint/complexity/useMathMinMax: bigints, which Math.min does not take
        this.position.settle(horizon < row.seq ? horizon : row.seq);
        if (!fresh) continue;
        this.lastId = String(this.position);
        const data = JSON.stringify(toNotificationView(row));
        this.write(`id: ${this.lastId}\nevent: notification\ndata: ${data}\n\n`);
      }
      if (rows.length < PAGE) break;
      after = last.seq;
      await this.drained();
    }
    this.position.settle(this.horizon.at(started));
    // The point moved past what the last id named: the client's Last-Event-ID follows it.
    if (String(this.position) !== this.lastId) {
      this.lastId = String(this.position);
      this.write(`id: ${this.lastId}\n\n`);
    }
    this.scheduleSettle();
  }

  /** Resolves when the client has taken what was written (or has gone). */
  private async drained(): Promise<void> {
    const { raw } = this.deps;
    if (!raw.writableNeedDrain || this.closed) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        raw.off("drain", done);
        raw.off("close", done);
        resolve();
      };
      raw.on("drain", done);
      raw.on("close", done);
    });
  }

  /**
   * A read once the changes sent have settled, so the id stops naming them: when the last one seen
   * has, so that a burst of changes costs one such read, not one per change (reads the changes
   * start settle what is due meanwhile).
   */
  private scheduleSettle(): void {
    const due = this.horizon.allSettledAt();
    if (this.closed || this.settleTimer || !this.position.unsettled || due === undefined) return;
    this.settleTimer = setTimeout(
      () => {
        this.settleTimer = undefined;
        this.read();
      },
      Math.max(0, due - Date.now()) + 10,
    );
  }

  private write(text: string): void {
    const { raw } = this.deps;
    if (this.closed || raw.writableEnded) return;
    if (raw.writableLength > MAX_BUFFERED_BYTES) {
      this.deps.log.warn("a live stream's client is not reading; closing it");
      this.end();
      return;
    }
    raw.write(text);
  }

  /** Stops its timers and reads, once; the response is left as it is. */
  stop(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.settleTimer);
    this.deps.onClose();
  }
}
