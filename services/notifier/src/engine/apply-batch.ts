import type { Context } from "@opentelemetry/api";
import { enqueueEvents, recordFirstApplications, traceContextRecord } from "@syncwell/bus";
import { type AnyEvent, createEvent, type EventOf, uuidv7 } from "@syncwell/contracts";
import type { Queryable } from "@syncwell/db";
import {
  type BatchDecision,
  type BatchEvent,
  decideBatch,
  eventTime,
  subjectOfEvent,
} from "../domain/batch.ts";
import type { NotifySettings } from "../domain/rules.ts";
import { lockEpisodes, storeEpisodes } from "../repositories/episodes.repository.ts";
import {
  insertMessages,
  insertNotifications,
  type NewMessage,
  type NewNotification,
  resolveNotifications,
  type StoredChange,
} from "../repositories/notifications.repository.ts";

/** The events the notifier decides on, as they arrive. */
export type NotifierEnvelope =
  | EventOf<"token.failed">
  | EventOf<"token.refreshed">
  | EventOf<"health.changed">;

/** One event waiting for its batch: the durable that received it, and the trace it continues. */
export type NotifyItem = BatchEvent & { consumer: string; envelope: NotifierEnvelope; trace: Context };

export type BatchOutcome = {
  /** Notifications stored or changed, for the users' live streams. */
  changes: StoredChange[];
  /** Events applied now (the others were applied before: redeliveries). */
  applied: number;
  created: number;
  resolved: number;
  /** Email messages stored, pending for the email worker. */
  emails: number;
  held: number;
  /** Events about users who no longer exist. */
  unknownUsers: number;
};

export function notifyItem(
  consumer: string,
  envelope: NotifierEnvelope,
  trace: Context,
  arrivedAt = Date.now(),
): NotifyItem {
  return { consumer, envelope, trace, event: envelope, at: eventTime(envelope.occurredAt, arrivedAt) };
}

/**
 * Applies a batch of events in the caller's transaction: records them in the inbox (one
 * statement; events applied before are dropped), locks their subjects' episodes, decides, and
 * stores the notifications with their messages, the resolutions, the next episodes and a
 * `notification.created` per message through the outbox. All or nothing: a redelivered event, or
 * a batch applied again after a failure, changes nothing twice.
 */
export async function applyBatch(
  db: Queryable,
  items: readonly NotifyItem[],
  deps: { settings: NotifySettings; source: string },
): Promise<BatchOutcome> {
  const fresh = (
    await recordFirstApplications(
      db,
      items.map((item) => ({
        consumer: item.consumer,
        id: item.envelope.id,
        type: item.envelope.type,
        item,
      })),
    )
  ).map((entry) => entry.item);
  const episodes = await lockEpisodes(
    db,
    fresh.map((item) => subjectOfEvent(item.event)),
  );
  const decision = decideBatch(fresh, episodes, deps.settings);
  const { created, events, emails } = await storeCreated(db, decision, deps.source);
  const resolved = await resolveNotifications(
    db,
    decision.resolve.map((r) => ({ ...r.order, userId: r.userId, at: new Date(r.at) })),
  );
  await storeEpisodes(db, [...decision.episodes.values()]);
  const traceOf = new Map(events.map(({ event, cause }) => [event.id, cause.trace]));
  await enqueueEvents(
    db,
    events.map((e) => e.event),
    { contextOf: (event) => traceOf.get(event.id) },
  );
  return {
    changes: [...created, ...resolved],
    applied: fresh.length,
    created: created.length,
    resolved: resolved.length,
    emails,
    held: decision.held,
    unknownUsers: decision.unknown.length,
  };
}

/**
 * Inserts the decided notifications and the messages of those inserted (one per channel, each
 * carrying the trace of the event that caused it, for its delivery), and builds their
 * notification.created announcements.
 */
async function storeCreated(db: Queryable, decision: BatchDecision<NotifyItem>, source: string) {
  const planned = decision.create.map((c): { row: NewNotification; cause: NotifyItem } => ({
    row: { id: uuidv7(), draft: c.draft, subjectKey: c.subjectKey, episode: c.episode },
    cause: c.cause,
  }));
  const created = await insertNotifications(
    db,
    planned.map((p) => p.row),
  );
  const inserted = new Set(created.map((c) => c.id));
  const messages: NewMessage[] = [];
  const events: { event: AnyEvent; cause: NotifyItem }[] = [];
  for (const { row, cause } of planned) {
    if (!inserted.has(row.id)) continue;
    const trace = traceContextRecord(cause.trace);
    for (const channel of row.draft.channels) {
      messages.push({ id: uuidv7(), notificationId: row.id, userId: row.draft.userId, channel, trace });
      const data = {
        notificationId: row.id,
        userId: row.draft.userId,
        kind: row.draft.kind,
        channel,
        dedupKey: row.draft.dedupKey,
      };
      events.push({ event: createEvent("notification.created", data, { source }), cause });
    }
  }
  await insertMessages(db, messages);
  return { created, events, emails: messages.filter((m) => m.channel === "email").length };
}
