import type { NotificationRow } from "../repositories/user-notifications.repository.ts";

/** A notification as the API shows it: in list pages, mark-read answers and stream events. */
export type NotificationView = {
  id: string;
  kind: string;
  priority: string;
  status: string;
  subject: { type: string; id: string };
  title: string;
  body: string;
  link: string | null;
  data: unknown;
  createdAt: string;
  readAt: string | null;
  resolvedAt: string | null;
  resolution: string | null;
  /** The change's place in the user's stream (a decimal: it may exceed 2^53). */
  seq: string;
};

const iso = (date: Date | null): string | null => (date === null ? null : date.toISOString());

export function toNotificationView(row: NotificationRow): NotificationView {
  return {
    id: row.id,
    kind: row.kind,
    priority: row.priority,
    status: row.status,
    subject: { type: row.subjectType, id: row.subjectId },
    title: row.title,
    body: row.body,
    link: row.link,
    data: row.data,
    createdAt: row.createdAt.toISOString(),
    readAt: iso(row.readAt),
    resolvedAt: iso(row.resolvedAt),
    resolution: row.resolution,
    seq: row.seq.toString(),
  };
}
