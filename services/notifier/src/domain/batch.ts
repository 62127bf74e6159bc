import type { Episode } from "./episode.ts";
import { type NotificationDraft, type ResolveOrder, subjectKey } from "./notifications.ts";
import { decide, type NotifierEvent, type NotifySettings, subjectOf } from "./rules.ts";

/**
 * `decide` over a batch of events: each event meets the episode its subject's previous event in
 * the batch left, as if they had been applied one by one, so a batch stores the same as one
 * transaction per event would. Pure; the caller loads (and locks) the episodes first.
 */

/** One event of the batch: the rules' input and when it happened (`eventTime`, epoch ms). */
export type BatchEvent = { event: NotifierEvent; at: number };

/**
 * When an event happened, for the rules: its `occurredAt`, but never later than it arrived. A
 * producer's clock running ahead, or an event published by hand with a date to come, would
 * otherwise open or close an episode in the future, and every real event before that date would
 * be stale to it: a disconnection told to nobody.
 */
export function eventTime(occurredAt: string, arrivedAt: number): number {
  const at = Date.parse(occurredAt);
  return Number.isFinite(at) && at <= arrivedAt ? at : arrivedAt;
}

export type BatchDecision<E extends BatchEvent> = {
  /** Notifications to create, each with the event it answers and its subject's episode. */
  create: { draft: NotificationDraft; subjectKey: string; episode: number; cause: E }[];
  /** Notifications to resolve, with their user and the time of the event that resolved them. */
  resolve: { order: ResolveOrder; userId: string; at: number; cause: E }[];
  /** Subjects whose episode changed, keyed as `episodeKey` keys them, with their last episode. */
  episodes: Map<string, { userId: string; subjectKey: string; episode: Episode }>;
  /** Events whose user has no episode row (a user deleted since): nobody to tell. */
  unknown: E[];
  /** Kinds the cooldown held back. */
  held: number;
};

/**
 * Whether an event can change anything at all: a refresh that is not a recovery (nearly every
 * token.refreshed) and a failure of the operator's own client never do, whatever the episode.
 * Such events need no transaction, no inbox row and no episode.
 */
export function mayChange(event: NotifierEvent): boolean {
  if (event.type === "token.refreshed") return event.data.recovered;
  if (event.type === "token.failed") return event.data.classification !== "operator";
  return true;
}

/** The key of an event's subject among a batch's episodes: its user and subject key. */
export function episodeKey(userId: string, key: string): string {
  return `${userId.toLowerCase()}\u0000${key}`;
}

export function subjectOfEvent(event: NotifierEvent): { userId: string; subjectKey: string } {
  return { userId: event.data.userId, subjectKey: subjectKey(subjectOf(event)) };
}

/**
 * Decides every event in time order (a subject's events in the order they happened, whatever
 * order they arrived in), on `episodes` as loaded.
 */
export function decideBatch<E extends BatchEvent>(
  events: readonly E[],
  episodes: ReadonlyMap<string, Episode>,
  settings: NotifySettings,
): BatchDecision<E> {
  const result: BatchDecision<E> = { create: [], resolve: [], episodes: new Map(), unknown: [], held: 0 };
  const current = new Map(episodes);
  const ordered = [...events].sort((a, b) => a.at - b.at);
  for (const item of ordered) {
    const { userId, subjectKey: key } = subjectOfEvent(item.event);
    const mapKey = episodeKey(userId, key);
    const episode = current.get(mapKey);
    if (episode === undefined) {
      result.unknown.push(item);
      continue;
    }
    const decision = decide(item.event, episode, settings, item.at);
    for (const draft of decision.create) {
      result.create.push({ draft, subjectKey: key, episode: decision.episode.number, cause: item });
    }
    for (const order of decision.resolve) result.resolve.push({ order, userId, at: item.at, cause: item });
    result.held += decision.held.length;
    if (decision.episode !== episode) {
      current.set(mapKey, decision.episode);
      result.episodes.set(mapKey, { userId, subjectKey: key, episode: decision.episode });
    }
  }
  return result;
}
