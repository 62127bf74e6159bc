import { context } from "@opentelemetry/api";
import { withTransaction } from "@syncwell/db";
import { BatchQueue } from "@syncwell/runtime";
import type { Logger } from "@syncwell/telemetry";
import type pg from "pg";
import { mayChange } from "../domain/batch.ts";
import type { NotificationChange } from "../domain/live-changes.ts";
import type { NotifySettings } from "../domain/rules.ts";
import type { StoredChange } from "../repositories/notifications.repository.ts";
import { applyBatch, type NotifierEnvelope, type NotifyItem, notifyItem } from "./apply-batch.ts";

export type NotifyBatchSettings = {
  /** Events applied in one transaction. */
  maxBatch: number;
  /** How long the first event of a batch waits for company. */
  lingerMs: number;
  /** Batches applied at once. */
  maxConcurrent: number;
};

export const defaultNotifyBatchSettings: NotifyBatchSettings = {
  maxBatch: 500,
  lingerMs: 5,
  maxConcurrent: 2,
};

type Deps = {
  pool: pg.Pool;
  logger: Logger;
  settings: NotifySettings;
  /** The envelope's `source` of what the notifier announces (its service name). */
  source: string;
  /** Tells the user's live streams, after the commit; must not throw. */
  publishChange: (userId: string, change: NotificationChange) => void;
  /** Email messages were stored (after the commit): the email worker of this replica looks now. */
  onEmailsStored?: () => void;
};

type Result = { ok: true } | { ok: false; error: unknown };

/** Clocks of different hosts differ by seconds; an event dated further ahead than this is worth a warning. */
const FUTURE_DATE_WARNING_MS = 60_000;

/**
 * Applies token.failed, token.refreshed and health.changed events in batches (group commit on
 * BatchQueue): one transaction per batch instead of one per event, because the notifier's cost
 * is commits and round trips, not its rules. Each handler waits for its event's batch. A batch
 * that fails is applied again one event per transaction, so one event that cannot be applied
 * fails alone (and is retried, then dead-lettered, by the bus) rather than taking its batch
 * with it.
 */
export class NotifyBatches {
  private readonly queue: BatchQueue<NotifyItem, Result>;
  private readonly deps: Deps;
  private futureDated = 0;
  private futureDateWarnedAt = Number.NEGATIVE_INFINITY;

  constructor(deps: Deps, batch: NotifyBatchSettings = defaultNotifyBatchSettings) {
    this.deps = deps;
    this.queue = new BatchQueue<NotifyItem, Result>({ ...batch, run: (items) => this.run(items) });
  }

  /** Resolves when the event is applied (or was before); rejects when it could not be. */
  async submit(consumer: string, envelope: NotifierEnvelope): Promise<void> {
    if (!mayChange(envelope)) return;
    const item = notifyItem(consumer, envelope, context.active());
    this.noteFutureDate(envelope, item.at);
    const result = await this.queue.submit(item);
    if (!result.ok) throw result.error;
  }

  /**
   * An event dated more than a minute after it arrived is applied as of its arrival
   * (`eventTime`); the operator hears of it at most once a minute, with how many more came.
   */
  private noteFutureDate(envelope: NotifierEnvelope, at: number): void {
    const aheadMs = Date.parse(envelope.occurredAt) - at;
    if (!(aheadMs > FUTURE_DATE_WARNING_MS)) return;
    this.futureDated += 1;
    if (at - this.futureDateWarnedAt < FUTURE_DATE_WARNING_MS) return;
    this.deps.logger.warn(
      {
        eventId: envelope.id,
        eventType: envelope.type,
        occurredAt: envelope.occurredAt,
        aheadMs,
        futureDatedEvents: this.futureDated,
      },
      "an event is dated after it arrived (the producer's clock, or a hand-made event): applied as of its arrival",
    );
    this.futureDateWarnedAt = at;
    this.futureDated = 0;
  }

  async drain(): Promise<void> {
    await this.queue.drain();
  }

  private async run(items: NotifyItem[]): Promise<Result[]> {
    try {
      await this.apply(items);
      return items.map(() => ({ ok: true }));
    } catch (error) {
      if (items.length === 1) return [{ ok: false, error }];
      this.deps.logger.warn(
        { err: error, events: items.length },
        "a batch failed: applying its events one by one",
      );
    }
    const results: Result[] = [];
    for (const item of items) {
      try {
        await this.apply([item]);
        results.push({ ok: true });
      } catch (error) {
        results.push({ ok: false, error });
      }
    }
    return results;
  }

  private async apply(items: readonly NotifyItem[]): Promise<void> {
    const started = performance.now();
    const outcome = await withTransaction(this.deps.pool, (client) => applyBatch(client, items, this.deps));
    this.publish(outcome.changes);
    if (outcome.emails > 0) this.deps.onEmailsStored?.();
    const { changes, ...counts } = outcome;
    this.deps.logger.debug(
      { events: items.length, ...counts, ms: Math.round(performance.now() - started) },
      "notification events applied",
    );
  }

  /** One message per changed notification, with its latest seq. */
  private publish(changes: readonly StoredChange[]): void {
    const latest = new Map<string, StoredChange>();
    for (const change of changes) {
      const seen = latest.get(change.id);
      if (seen === undefined || BigInt(change.seq) > BigInt(seen.seq)) latest.set(change.id, change);
    }
    for (const { id, userId, seq } of latest.values()) {
      this.deps.publishChange(userId, { notificationId: id, seq });
    }
  }
}
