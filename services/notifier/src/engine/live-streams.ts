import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "@syncwell/telemetry";
import { changesSubject, decodeChange, type NotificationChange } from "../domain/live-changes.ts";

/** One open live stream, as the hub sees it. */
export type StreamListener = {
  /** A change of the user's notifications was announced (by any replica). */
  changed(change: NotificationChange): void;
  /** The service is stopping: end the stream. */
  end(): void;
};

export type LiveStreamsDeps = {
  nc: NatsConnection;
  /** The absolute subject of a relative one (the deployment's prefix). */
  subject: (relative: string) => string;
  perUser: number;
  logger: Logger;
};

type UserStreams = {
  subscription: Subscription;
  listeners: Set<StreamListener>;
  /** Resolves once the server has the subscription: changes published after it reach the streams. */
  ready: Promise<void>;
};

/**
 * The live streams open on this replica, by user: one core NATS subscription per user with a
 * stream open here (`notifier.changes.<userId>`, which every replica publishes to after a
 * change commits), its messages handed to each of that user's streams. A user may hold at most
 * `perUser` streams on one replica.
 */
export class LiveStreams {
  private readonly users = new Map<string, UserStreams>();
  private readonly deps: LiveStreamsDeps;

  constructor(deps: LiveStreamsDeps) {
    this.deps = deps;
  }

  /**
   * Adds a stream of the user, resolving once the user's changes reach it; false when the user
   * already holds `perUser` here.
   */
  async open(userId: string, listener: StreamListener): Promise<boolean> {
    const user = this.users.get(userId) ?? this.subscribe(userId);
    if (user.listeners.size >= this.deps.perUser) return false;
    user.listeners.add(listener);
    await user.ready;
    return true;
  }

  /** Removes a stream; the user's subscription goes with their last one. */
  close(userId: string, listener: StreamListener): void {
    const user = this.users.get(userId);
    if (!user?.listeners.delete(listener) || user.listeners.size > 0) return;
    this.users.delete(userId);
    user.subscription.unsubscribe();
  }

  /** Streams open on this replica. */
  get size(): number {
    let n = 0;
    for (const user of this.users.values()) n += user.listeners.size;
    return n;
  }

  /** Ends every stream (shutdown): each one's `end` closes it, which removes it. */
  endAll(): void {
    for (const user of [...this.users.values()]) for (const listener of [...user.listeners]) listener.end();
  }

  private subscribe(userId: string): UserStreams {
    const listeners = new Set<StreamListener>();
    const subscription = this.deps.nc.subscribe(this.deps.subject(changesSubject(userId)), {
      callback: (err, msg) => {
        if (err) {
          this.deps.logger.warn({ err, userId }, "live changes subscription failed");
          return;
        }
        const change = decodeChange(msg.string());
        if (change) for (const listener of listeners) listener.changed(change);
      },
    });
    // A failed flush leaves the stream to its periodic re-reads; the subscription stays.
    const ready = this.deps.nc.flush().catch((err: unknown) => {
      this.deps.logger.warn({ err, userId }, "live changes subscription not confirmed");
    });
    const user = { subscription, listeners, ready };
    this.users.set(userId, user);
    return user;
  }
}
