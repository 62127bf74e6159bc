import { type ConnectionStatus, healthStatuses, type NotificationChannel } from "@syncwell/contracts";
import {
  type Content,
  type HealthChangedData,
  healthContent,
  reconnectedContent,
  type TokenFailedData,
  type TokenRefreshedData,
  tokenFailureContent,
} from "./content.ts";
import { closeAt, coolingDown, type Episode, isOpen, isStale, notified, openAt } from "./episode.ts";
import {
  dedupKey,
  type NotificationDraft,
  type NotificationKind,
  priorityOf,
  type ResolveOrder,
  reconnectUrl,
  type Subject,
} from "./notifications.ts";

/**
 * The notifier's rules: from one event and the stored episode of its subject to what to tell the
 * user. Pure: the caller loads the episode, calls `decide`, and stores the notifications, the
 * resolutions and the next episode together (one transaction), so a redelivered event meets the
 * episode it left and changes nothing.
 */

/** What the rules take from the configuration (`notifySettings`). */
export type NotifySettings = {
  /** Failed refreshes in a row, of any kind, from which the user is warned. */
  warningAfter: number;
  /** Non-transient failed refreshes in a row from which the connection counts as disconnected. */
  disconnectedAfter: number;
  /** Transient failed refreshes in a row from which the user hears the provider is limiting us. */
  rateLimitedAfter: number;
  /** A kind of notification is not created again for the same subject within this time. */
  cooldownMs: number;
  /** Reconnect link template, with {connectionId} and {provider} placeholders. */
  reconnectUrl: string;
  /** Health notifications go by email too (until per-user preferences exist, for everyone). */
  healthEmail: boolean;
};

/** The events the notifier decides on, as their envelopes carry them (`type` and `data`). */
export type NotifierEvent =
  | { type: "token.failed"; data: TokenFailedData }
  | { type: "token.refreshed"; data: TokenRefreshedData }
  | { type: "health.changed"; data: HealthChangedData };

export type Decision = {
  /** Notifications to create (each at most once: its dedup key is unique). */
  create: NotificationDraft[];
  /** Open notifications to mark resolved. */
  resolve: ResolveOrder[];
  /** The subject's episode after this event; equal to the one given when nothing changed. */
  episode: Episode;
  /** Kinds the rules called for that the cooldown held back, for logs and metrics. */
  held: NotificationKind[];
};

/** Severity within a subject: a kind is created only when graver than what its episode told. */
const TOKEN_LEVELS = {
  connection_warning: 1,
  connection_rate_limited: 2,
  connection_disconnected: 3,
} as const;
type FailureKind = keyof typeof TOKEN_LEVELS;

/**
 * The token service's verdict that only the user can mend the connection: it has stopped retrying
 * (a permanent failure such as invalid_grant, a revoked grant or a lost rotation at once, or its
 * own limit of non-transient failures).
 */
const RECONNECT_STATUSES: ReadonlySet<ConnectionStatus> = new Set(["needs_reauth", "disconnected"]);

/**
 * A lost connection is told even within the cooldown: only the user reconnecting ends it, so it
 * cannot flap faster than the user acts, and nothing else brings it back.
 */
const NEVER_HELD: ReadonlySet<NotificationKind> = new Set(["connection_disconnected"]);

/** Health statuses that notify, by the kind they create. */
const HEALTH_KINDS = {
  critical: "health_critical",
  ghost: "health_ghost",
  stalled: "health_stalled",
} as const;

/** The subject an event is about: the episode to load before `decide`. */
export function subjectOf(event: NotifierEvent): Subject {
  if (event.type === "health.changed") {
    return { type: "health", kind: event.data.subjectKind, id: event.data.subjectId };
  }
  return { type: "connection", connectionId: event.data.connectionId };
}

/**
 * What to do about `event`, given the stored `episode` of its subject. `at` is when the event
 * happened (its `occurredAt`, epoch ms), not when it is handled: a redelivery decides the same, and
 * an event older than the episode's last opening or closing is stale and changes nothing.
 */
export function decide(
  event: NotifierEvent,
  episode: Episode,
  settings: NotifySettings,
  at: number,
): Decision {
  switch (event.type) {
    case "token.failed":
      return decideTokenFailed(event.data, episode, settings, at);
    case "token.refreshed":
      return decideTokenRefreshed(event.data, episode, settings, at);
    case "health.changed":
      return decideHealthChanged(event.data, episode, settings, at);
  }
}

/** The gravest rung of the ladder a failed refresh has reached; null below the warning. */
export function failureKind(data: TokenFailedData, settings: NotifySettings): FailureKind | null {
  if (data.classification === "operator") return null;
  const nonTransient = Math.max(0, data.consecutiveFailures - data.consecutiveTransientFailures);
  if (RECONNECT_STATUSES.has(data.status) || nonTransient >= settings.disconnectedAfter) {
    return "connection_disconnected";
  }
  if (data.classification === "transient" && data.consecutiveTransientFailures >= settings.rateLimitedAfter) {
    return "connection_rate_limited";
  }
  if (data.consecutiveFailures >= settings.warningAfter) return "connection_warning";
  return null;
}

function decideTokenFailed(
  data: TokenFailedData,
  episode: Episode,
  settings: NotifySettings,
  at: number,
): Decision {
  // The provider held Syncwell's own client back: the operator is alerted, the user's connection
  // is untouched, and its episode neither opens nor moves.
  if (data.classification === "operator" || isStale(episode, at)) return nothingToTell(episode);
  const subject: Subject = { type: "connection", connectionId: data.connectionId };
  const current = openAt(episode, at);
  const kind = failureKind(data, settings);
  if (kind === null) return nothingToTell(current);
  const link =
    kind === "connection_disconnected"
      ? reconnectUrl(settings.reconnectUrl, { connectionId: data.connectionId, provider: data.provider })
      : null;
  const channels: NotificationChannel[] =
    kind === "connection_disconnected" ? ["in_app", "email"] : ["in_app"];
  return escalate(current, settings, at, {
    kind,
    level: TOKEN_LEVELS[kind],
    subject,
    userId: data.userId,
    channels,
    content: tokenFailureContent(kind, data, link),
  });
}

type Candidate = {
  kind: NotificationKind;
  level: number;
  subject: Subject;
  userId: string;
  channels: readonly NotificationChannel[];
  content: Content;
};

/**
 * Creates `candidate` in the open `episode` when it is graver than anything the episode told and
 * its kind is not cooling down; what it replaces is resolved as superseded.
 */
function escalate(episode: Episode, settings: NotifySettings, at: number, candidate: Candidate): Decision {
  const { kind, level, subject } = candidate;
  if (level <= episode.level) return nothingToTell(episode);
  if (!NEVER_HELD.has(kind) && coolingDown(episode, kind, at, settings.cooldownMs)) {
    return { ...nothingToTell(episode), held: [kind] };
  }
  // Everything open is less grave (the episode's level is the gravest created), so it is replaced.
  const resolve = resolveAll(episode, subject, "superseded");
  return {
    create: [draft(candidate, episode.number)],
    resolve,
    episode: notified(episode, kind, level, episode.open, at),
    held: [],
  };
}

function decideTokenRefreshed(
  data: TokenRefreshedData,
  episode: Episode,
  settings: NotifySettings,
  at: number,
): Decision {
  if (!data.recovered || !isOpen(episode) || isStale(episode, at)) return nothingToTell(episode);
  const subject: Subject = { type: "connection", connectionId: data.connectionId };
  const resolve = resolveAll(episode, subject, "recovered");
  const closed = closeAt(episode, at);
  const kind = "connection_reconnected";
  // A user told nothing in this episode needs no news that it is over.
  if (episode.level === 0) return { create: [], resolve, episode: closed, held: [] };
  if (coolingDown(closed, kind, at, settings.cooldownMs)) {
    return { create: [], resolve, episode: closed, held: [kind] };
  }
  const candidate: Candidate = {
    kind,
    level: 0,
    subject,
    userId: data.userId,
    channels: ["in_app"],
    content: reconnectedContent(data),
  };
  return {
    create: [draft(candidate, episode.number)],
    resolve,
    episode: { ...closed, lastNotifiedAt: { ...closed.lastNotifiedAt, [kind]: at } },
    held: [],
  };
}

/**
 * Critical, ghost and stalled notify; healthy closes the episode and resolves what it told; the
 * statuses between (warning, at_risk) change nothing, so a score that wavers around a threshold
 * stays in one episode. A subject's first score is no change: a contact just added (or a CRM's
 * thousand, imported at once) is not news, however it scores; its next change to a bad status is.
 */
function decideHealthChanged(
  data: HealthChangedData,
  episode: Episode,
  settings: NotifySettings,
  at: number,
): Decision {
  if (isStale(episode, at) || data.previousStatus === null) return nothingToTell(episode);
  const subject: Subject = { type: "health", kind: data.subjectKind, id: data.subjectId };
  if (data.status === "healthy") {
    if (!isOpen(episode)) return nothingToTell(episode);
    return {
      create: [],
      resolve: resolveAll(episode, subject, "recovered"),
      episode: closeAt(episode, at),
      held: [],
    };
  }
  if (!Object.hasOwn(HEALTH_KINDS, data.status)) return nothingToTell(episode);
  const kind = HEALTH_KINDS[data.status as keyof typeof HEALTH_KINDS];
  const scale: readonly string[] = healthStatuses[data.subjectKind];
  return escalate(openAt(episode, at), settings, at, {
    kind,
    // Each scale runs from best to worst, so its position is the severity.
    level: scale.indexOf(data.status),
    subject,
    userId: data.userId,
    channels: settings.healthEmail ? ["in_app", "email"] : ["in_app"],
    content: healthContent(data),
  });
}

function draft(candidate: Candidate, episodeNumber: number): NotificationDraft {
  const { kind, subject, userId, channels, content } = candidate;
  return {
    kind,
    userId,
    subject,
    dedupKey: dedupKey(kind, subject, episodeNumber),
    priority: priorityOf[kind],
    channels,
    ...content,
  };
}

function resolveAll(episode: Episode, subject: Subject, reason: ResolveOrder["reason"]): ResolveOrder[] {
  return episode.open.map((kind) => ({ kind, dedupKey: dedupKey(kind, subject, episode.number), reason }));
}

function nothingToTell(episode: Episode): Decision {
  return { create: [], resolve: [], episode, held: [] };
}
