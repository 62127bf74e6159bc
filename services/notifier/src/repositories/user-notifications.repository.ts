import type { Queryable } from "@syncwell/db";
import type { StoredChange } from "./notifications.repository.ts";

/**
 * A user's notifications as the in-app API reads and changes them (`pg`). Every query is bounded to
 * one user: an id of another user's notification finds nothing.
 */

/** What the API shows of a notification. */
export type NotificationRow = {
  id: string;
  kind: string;
  priority: string;
  status: string;
  subjectType: string;
  subjectId: string;
  title: string;
  body: string;
  link: string | null;
  data: unknown;
  readAt: Date | null;
  resolvedAt: Date | null;
  resolution: string | null;
  seq: bigint;
  createdAt: Date;
  updatedAt: Date;
};

/**
 * The columns of a `NotificationRow`; `seq` as text, since it may exceed 2^53. The output names
 * shadow the columns, so ORDER BY names the table's columns (`notifications.seq`), not the text.
 */
const NOTIFICATION_COLUMNS = `id::text, kind, priority, status, subject_type AS "subjectType",
  subject_id::text AS "subjectId", title, body, link, data, read_at AS "readAt",
  resolved_at AS "resolvedAt", resolution, seq::text, created_at AS "createdAt", updated_at AS "updatedAt"`;

type StoredRow = Omit<NotificationRow, "seq"> & { seq: string };

const toRow = (row: StoredRow): NotificationRow => ({ ...row, seq: BigInt(row.seq) });

export type ListFilter = {
  status?: string;
  kind?: string;
  priority?: string;
  /** Only ids below this one: the next page, newest first (ids are UUIDv7). */
  beforeId?: string;
};

/** The user's notifications newest first, `limit` of them. */
export async function listNotifications(
  db: Queryable,
  userId: string,
  filter: ListFilter,
  limit: number,
): Promise<NotificationRow[]> {
  const { rows } = await db.query<StoredRow>(
    `SELECT ${NOTIFICATION_COLUMNS} FROM notifications
     WHERE user_id = $1::uuid AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR kind = $3)
       AND ($4::text IS NULL OR priority = $4) AND ($5::uuid IS NULL OR id < $5::uuid)
     ORDER BY notifications.id DESC LIMIT $6`,
    [
      userId,
      filter.status ?? null,
      filter.kind ?? null,
      filter.priority ?? null,
      filter.beforeId ?? null,
      limit,
    ],
  );
  return rows.map(toRow);
}

export async function countUnread(db: Queryable, userId: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM notifications WHERE user_id = $1::uuid AND status = 'unread'",
    [userId],
  );
  return rows[0]?.n ?? 0;
}

export async function findNotification(
  db: Queryable,
  userId: string,
  id: string,
): Promise<NotificationRow | null> {
  const { rows } = await db.query<StoredRow>(
    `SELECT ${NOTIFICATION_COLUMNS} FROM notifications WHERE id = $1::uuid AND user_id = $2::uuid`,
    [id, userId],
  );
  const row = rows[0];
  return row === undefined ? null : toRow(row);
}

/**
 * Marks one notification read: an unread one becomes read; a resolved one keeps its status and
 * gets its read time. One already read is left as it is (no new seq). Returns the change, or null
 * when nothing changed (already read, unknown, or another user's).
 */
export async function markRead(
  db: Queryable,
  userId: string,
  id: string,
  at: Date,
): Promise<StoredChange | null> {
  const { rows } = await db.query<StoredChange>(
    `UPDATE notifications
     SET status = CASE status WHEN 'unread' THEN 'read' ELSE status END, read_at = $3
     WHERE id = $1::uuid AND user_id = $2::uuid AND read_at IS NULL
     RETURNING id::text, user_id::text AS "userId", seq::text`,
    [id, userId, at],
  );
  return rows[0] ?? null;
}

/** Marks every unread notification of the user read; returns those it changed. */
export async function markAllRead(db: Queryable, userId: string, at: Date): Promise<StoredChange[]> {
  const { rows } = await db.query<StoredChange>(
    `UPDATE notifications SET status = 'read', read_at = $2
     WHERE user_id = $1::uuid AND status = 'unread'
     RETURNING id::text, user_id::text AS "userId", seq::text`,
    [userId, at],
  );
  return rows;
}

/** The user's notifications changed after `afterSeq`, in seq order, `limit` of them. */
export async function changesAfter(
  db: Queryable,
  userId: string,
  afterSeq: bigint,
  limit: number,
): Promise<NotificationRow[]> {
  const { rows } = await db.query<StoredRow>(
    `SELECT ${NOTIFICATION_COLUMNS} FROM notifications
     WHERE user_id = $1::uuid AND seq > $2::bigint ORDER BY notifications.seq LIMIT $3`,
    [userId, afterSeq.toString(), limit],
  );
  return rows.map(toRow);
}

/** The seq of the user's latest change, 0 when the user has none. */
export async function latestSeq(db: Queryable, userId: string): Promise<bigint> {
  const { rows } = await db.query<{ seq: string | null }>(
    "SELECT max(seq)::text AS seq FROM notifications WHERE user_id = $1::uuid",
    [userId],
  );
  return BigInt(rows[0]?.seq ?? 0);
}
