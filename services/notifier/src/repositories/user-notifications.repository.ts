import type { Prisma, PrismaClient } from "@syncwell/db";
import type { StoredChange } from "./notifications.repository.ts";

/**
 * A user's notifications as the in-app API reads and changes them (Prisma Client). Every query is
 * bounded to one user: an id of another user's notification finds nothing.
 */

/** What the API shows of a notification. */
export const notificationFields = {
  id: true,
  kind: true,
  priority: true,
  status: true,
  subjectType: true,
  subjectId: true,
  title: true,
  body: true,
  link: true,
  data: true,
  readAt: true,
  resolvedAt: true,
  resolution: true,
  seq: true,
  createdAt: true,
  updatedAt: true,
} satisfies Prisma.NotificationSelect;

export type NotificationRow = Prisma.NotificationGetPayload<{ select: typeof notificationFields }>;

export type ListFilter = {
  status?: string;
  kind?: string;
  priority?: string;
  /** Only ids below this one: the next page, newest first (ids are UUIDv7). */
  beforeId?: string;
};

/** The user's notifications newest first, `limit` of them. */
export async function listNotifications(
  prisma: PrismaClient,
  userId: string,
  filter: ListFilter,
  limit: number,
): Promise<NotificationRow[]> {
  return prisma.notification.findMany({
    select: notificationFields,
    where: {
      userId,
      ...(filter.status !== undefined && { status: filter.status }),
      ...(filter.kind !== undefined && { kind: filter.kind }),
      ...(filter.priority !== undefined && { priority: filter.priority }),
      ...(filter.beforeId !== undefined && { id: { lt: filter.beforeId } }),
    },
    orderBy: { id: "desc" },
    take: limit,
  });
}

export async function countUnread(prisma: PrismaClient, userId: string): Promise<number> {
  return prisma.notification.count({ where: { userId, status: "unread" } });
}

export async function findNotification(
  prisma: PrismaClient,
  userId: string,
  id: string,
): Promise<NotificationRow | null> {
  return prisma.notification.findFirst({ select: notificationFields, where: { id, userId } });
}

/**
 * Marks one notification read: an unread one becomes read; a resolved one keeps its status and
 * gets its read time. One already read is left as it is (no new seq). Returns the change, or null
 * when nothing changed (already read, unknown, or another user's).
 */
export async function markRead(
  prisma: PrismaClient,
  userId: string,
  id: string,
  at: Date,
): Promise<StoredChange | null> {
  const rows = await prisma.$queryRaw<StoredChange[]>`
    UPDATE notifications
    SET status = CASE status WHEN 'unread' THEN 'read' ELSE status END, read_at = ${at}
    WHERE id = ${id}::uuid AND user_id = ${userId}::uuid AND read_at IS NULL
    RETURNING id::text, user_id::text AS "userId", seq::text`;
  return rows[0] ?? null;
}

/** Marks every unread notification of the user read; returns those it changed. */
export async function markAllRead(prisma: PrismaClient, userId: string, at: Date): Promise<StoredChange[]> {
  return prisma.$queryRaw<StoredChange[]>`
    UPDATE notifications SET status = 'read', read_at = ${at}
    WHERE user_id = ${userId}::uuid AND status = 'unread'
    RETURNING id::text, user_id::text AS "userId", seq::text`;
}

/** The user's notifications changed after `afterSeq`, in seq order, `limit` of them. */
export async function changesAfter(
  prisma: PrismaClient,
  userId: string,
  afterSeq: bigint,
  limit: number,
): Promise<NotificationRow[]> {
  return prisma.notification.findMany({
    select: notificationFields,
    where: { userId, seq: { gt: afterSeq } },
    orderBy: { seq: "asc" },
    take: limit,
  });
}

/** The seq of the user's latest change, 0 when the user has none. */
export async function latestSeq(prisma: PrismaClient, userId: string): Promise<bigint> {
  const { _max } = await prisma.notification.aggregate({ where: { userId }, _max: { seq: true } });
  return _max.seq ?? 0n;
}
