import type { NotificationChannel } from "@syncwell/contracts";
import type { Queryable } from "@syncwell/db";
import type { NotificationDraft, ResolveOrder } from "../domain/notifications.ts";

/**
 * Notifications and their per-channel messages (`notifications`, `notification_messages`),
 * written a batch at a time inside the transaction that applies the events deciding them. One
 * statement per step whatever the batch's size.
 */

/** A notification to insert: the rules' draft, its id and the episode it belongs to. */
export type NewNotification = {
  id: string;
  draft: NotificationDraft;
  subjectKey: string;
  episode: number;
};

/** A notification as stored or changed: what a user's live streams are told. */
export type StoredChange = { id: string; userId: string; seq: string };

/** What a subject is, in the columns the API filters on. */
function subjectColumns(draft: NotificationDraft): { type: string; id: string } {
  const { subject } = draft;
  return subject.type === "connection"
    ? { type: "connection", id: subject.connectionId }
    : { type: subject.kind, id: subject.id };
}

/**
 * Inserts the notifications; one whose (user, dedup key) exists already is left as it is (its
 * episode told it before). Returns those inserted.
 */
export async function insertNotifications(
  db: Queryable,
  notifications: readonly NewNotification[],
): Promise<StoredChange[]> {
  if (notifications.length === 0) return [];
  const col = <T>(f: (n: NewNotification) => T) => notifications.map(f);
  const { rows } = await db.query<StoredChange>(
    `INSERT INTO notifications (id, user_id, kind, priority, subject_type, subject_id, subject_key, episode,
                                dedup_key, title, body, link, data)
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::uuid[], $7::text[],
                          $8::int[], $9::text[], $10::text[], $11::text[], $12::text[], $13::jsonb[])
     ON CONFLICT (user_id, dedup_key) DO NOTHING
     RETURNING id::text, user_id::text AS "userId", seq::text`,
    [
      col((n) => n.id),
      col((n) => n.draft.userId),
      col((n) => n.draft.kind),
      col((n) => n.draft.priority),
      col((n) => subjectColumns(n.draft).type),
      col((n) => subjectColumns(n.draft).id),
      col((n) => n.subjectKey),
      col((n) => n.episode),
      col((n) => n.draft.dedupKey),
      col((n) => n.draft.title),
      col((n) => n.draft.body),
      col((n) => n.draft.actionUrl),
      col((n) => JSON.stringify(n.draft.facts)),
    ],
  );
  return rows;
}

/** A message to insert: one channel of a notification just inserted. */
export type NewMessage = {
  id: string;
  notificationId: string;
  /** The notification's user, whose address an email goes to. */
  userId: string;
  channel: NotificationChannel;
  /** Trace context of the event that created it (`traceContextRecord`), which its delivery continues. */
  trace: Record<string, string>;
};

/**
 * Inserts the messages of new notifications: in-app is delivered as it is stored; an email waits
 * as pending, due now, addressed to the user's address as it is now, with the trace it continues.
 * The address is looked up for each email only (the user's notification, inserted in this
 * transaction, holds the user's row): as a join, the batch was planned to read every user.
 */
export async function insertMessages(db: Queryable, messages: readonly NewMessage[]): Promise<void> {
  if (messages.length === 0) return;
  await db.query(
    `INSERT INTO notification_messages (id, notification_id, channel, status, to_address, next_attempt_at,
                                        delivered_at, trace_headers)
     SELECT m.id, m.notification_id, m.channel,
            CASE m.channel WHEN 'in_app' THEN 'delivered' ELSE 'pending' END,
            CASE m.channel WHEN 'email' THEN (SELECT u.email FROM users u WHERE u.id = m.user_id) END,
            CASE m.channel WHEN 'email' THEN CURRENT_TIMESTAMP END,
            CASE m.channel WHEN 'in_app' THEN CURRENT_TIMESTAMP END,
            m.trace_headers
     FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::jsonb[])
          AS m(id, notification_id, user_id, channel, trace_headers)`,
    [
      messages.map((m) => m.id),
      messages.map((m) => m.notificationId),
      messages.map((m) => m.userId),
      messages.map((m) => m.channel),
      messages.map((m) => JSON.stringify(m.trace)),
    ],
  );
}

/** A resolution to store: the rules' order, for whose notification, and when it happened. */
export type Resolution = ResolveOrder & { userId: string; at: Date };

/**
 * Marks the notifications resolved (their episode ended, or a graver one replaced them); one
 * already resolved keeps its first resolution. Returns those changed.
 */
export async function resolveNotifications(
  db: Queryable,
  resolutions: readonly Resolution[],
): Promise<StoredChange[]> {
  if (resolutions.length === 0) return [];
  const { rows } = await db.query<StoredChange>(
    `UPDATE notifications n
     SET status = 'resolved', resolved_at = r.at, resolution = r.reason
     FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]) AS r(user_id, dedup_key, reason, at)
     WHERE n.user_id = r.user_id AND n.dedup_key = r.dedup_key AND n.status <> 'resolved'
     RETURNING n.id::text, n.user_id::text AS "userId", n.seq::text`,
    [
      resolutions.map((r) => r.userId),
      resolutions.map((r) => r.dedupKey),
      resolutions.map((r) => r.reason),
      resolutions.map((r) => r.at.toISOString()),
    ],
  );
  return rows;
}
