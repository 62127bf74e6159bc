import type { NotificationKind } from "./notifications.ts";

/**
 * An episode is one stretch of trouble of one subject: it opens with the first sign of trouble (a
 * failed refresh of a connection, a health score turning bad) and closes with its recovery (a
 * refresh marked as a recovery, a score back to healthy). Each kind of notification is created at
 * most once per episode, and only when it is graver than what the episode already told the user.
 *
 * This is the state the notifier keeps per subject between events. Instants are epoch milliseconds
 * of the events that set them (their `occurredAt`), so replaying an event decides the same.
 */
export type Episode = {
  /** Number of the subject's current or last episode, from 1; 0 before its first. */
  number: number;
  /** When the current or last episode opened; null before the first. */
  openedAt: number | null;
  /** When a recovery closed it; null while it is open (and before the first). */
  closedAt: number | null;
  /** Severity of the gravest notification created in this episode; 0 when none was. */
  level: number;
  /** Kinds created in this episode and not resolved yet, oldest first. */
  open: readonly NotificationKind[];
  /**
   * When each kind was last created for this subject, in any episode: the cooldown's clock. Kept
   * across episodes, so a subject that recovers and fails again within the cooldown stays quiet.
   */
  lastNotifiedAt: Readonly<Partial<Record<NotificationKind, number>>>;
};

/** A subject never seen in trouble. */
export const noEpisode: Episode = {
  number: 0,
  openedAt: null,
  closedAt: null,
  level: 0,
  open: [],
  lastNotifiedAt: {},
};

export function isOpen(episode: Episode): boolean {
  return episode.number > 0 && episode.closedAt === null;
}

/**
 * An event from before the current state: trouble that happened before the last recovery, or a
 * recovery from before the episode opened. It arrived late and changes nothing.
 */
export function isStale(episode: Episode, at: number): boolean {
  if (isOpen(episode)) return episode.openedAt !== null && at < episode.openedAt;
  return episode.closedAt !== null && at < episode.closedAt;
}

/** The episode trouble at `at` belongs to: the open one, or a new one. */
export function openAt(episode: Episode, at: number): Episode {
  if (isOpen(episode)) return episode;
  return { ...episode, number: episode.number + 1, openedAt: at, closedAt: null, level: 0, open: [] };
}

export function closeAt(episode: Episode, at: number): Episode {
  return { ...episode, closedAt: at, open: [] };
}

/** Whether `kind` was created for this subject less than `cooldownMs` before `at`. */
export function coolingDown(episode: Episode, kind: NotificationKind, at: number, cooldownMs: number) {
  const last = episode.lastNotifiedAt[kind];
  return last !== undefined && at - last < cooldownMs;
}

/** The episode after creating `kind` at `at`, with severity `level` and `superseded` resolved. */
export function notified(
  episode: Episode,
  kind: NotificationKind,
  level: number,
  superseded: readonly NotificationKind[],
  at: number,
): Episode {
  return {
    ...episode,
    level: Math.max(episode.level, level),
    open: [...episode.open.filter((k) => !superseded.includes(k)), kind],
    lastNotifiedAt: { ...episode.lastNotifiedAt, [kind]: at },
  };
}
