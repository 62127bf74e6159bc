/**
 * How the notifier tells every open live stream of a user that their notifications changed: a
 * core NATS message (no stream, nothing stored) on `notifier.changes.<userId>` (under the
 * deployment's prefix), published after the change commits by whichever replica made it, so the
 * streams of every replica hear it. It carries the notification's id and its `seq` (a decimal
 * string: a bigint), the order of changes a stream resumes from with `Last-Event-ID`. A message
 * lost on the way (NATS unreachable for a moment) is made good by reading the user's changes after
 * the last seq a stream has seen.
 */

export type NotificationChange = { notificationId: string; seq: string };

/** Relative subject of a user's changes; `notifier.changes.*` subscribes to everyone's. */
export function changesSubject(userId: string): string {
  return `notifier.changes.${userId.toLowerCase()}`;
}

/** The message's body. */
export function encodeChange(change: NotificationChange): string {
  return JSON.stringify(change);
}

/** A message's body, or null when it is not a change (a hand-published mistake). */
export function decodeChange(body: string): NotificationChange | null {
  try {
    const value: unknown = JSON.parse(body);
    if (typeof value !== "object" || value === null) return null;
    const { notificationId, seq } = value as Record<string, unknown>;
    if (typeof notificationId !== "string" || typeof seq !== "string" || !/^\d+$/.test(seq)) return null;
    return { notificationId, seq };
  } catch {
    return null;
  }
}
