import type { HealthSubjectKind, NotificationChannel } from "@syncwell/contracts";

/**
 * What the notifier tells users: the kinds of notification, how urgent each is, what it is about
 * (its subject) and the key that makes it one per episode. Pure values; no I/O.
 */

export const notificationKinds = [
  "connection_warning",
  "connection_rate_limited",
  "connection_disconnected",
  "connection_reconnected",
  "health_critical",
  "health_ghost",
  "health_stalled",
] as const;
export type NotificationKind = (typeof notificationKinds)[number];

export const priorities = ["low", "normal", "high", "critical"] as const;
export type Priority = (typeof priorities)[number];

/**
 * Priority per kind. Critical is kept for what stops Syncwell until the user acts (a lost
 * connection); high for a subject in serious trouble; low for news that needs nothing from the
 * user (the provider slowing us down, a connection working again).
 */
export const priorityOf: Readonly<Record<NotificationKind, Priority>> = {
  connection_warning: "normal",
  connection_rate_limited: "low",
  connection_disconnected: "critical",
  connection_reconnected: "low",
  health_critical: "high",
  health_ghost: "normal",
  health_stalled: "normal",
};

/**
 * What a notification is about, and whose episodes it belongs to. A connection's token ladder and
 * its health score are two subjects: their episodes open and close on different events (a refresh
 * that recovers, a score back to healthy), so neither can close the other's.
 */
export type Subject =
  | { type: "connection"; connectionId: string }
  | { type: "health"; kind: HealthSubjectKind; id: string };

/** The key its episode is stored under: `connection:<id>` or `health:<kind>:<id>`. */
export function subjectKey(subject: Subject): string {
  return subject.type === "connection"
    ? `connection:${subject.connectionId}`
    : `health:${subject.kind}:${subject.id}`;
}

/**
 * One notification per kind, subject and episode: `<kind>:<connectionId>:<episode>` or
 * `<kind>:<subjectKind>:<subjectId>:<episode>` (the shapes of the contracts' examples). The kind
 * names the family, so the two shapes never collide.
 */
export function dedupKey(kind: NotificationKind, subject: Subject, episode: number): string {
  const about = subject.type === "connection" ? subject.connectionId : `${subject.kind}:${subject.id}`;
  return `${kind}:${about}:${episode}`;
}

/** Values the texts are built from, for templates; never a token, a secret or provider free text. */
export type NotificationFacts = Readonly<Record<string, string | number | null>>;

/** A notification the notifier has decided to create; the caller stores it and delivers it. */
export type NotificationDraft = {
  kind: NotificationKind;
  userId: string;
  subject: Subject;
  dedupKey: string;
  priority: Priority;
  /** In-app always; email where the rule says so. */
  channels: readonly NotificationChannel[];
  /** Plain text for a person (templates escape it); no secrets. */
  title: string;
  body: string;
  /** Where the user acts on it (the reconnect link), when there is something to do. */
  actionUrl: string | null;
  facts: NotificationFacts;
};

/** An earlier notification to mark resolved: its episode ended, or a graver one replaced it. */
export type ResolveOrder = {
  kind: NotificationKind;
  dedupKey: string;
  reason: "recovered" | "superseded";
};

const PROVIDER_NAMES: Readonly<Record<string, string>> = {
  google: "Google",
  spotify: "Spotify",
  github: "GitHub",
  "github-app": "GitHub App",
  discord: "Discord",
  linkedin: "LinkedIn",
  slack: "Slack",
};

/** The provider as users know it; a provider added since is shown by its key. */
export function providerName(provider: string): string {
  return PROVIDER_NAMES[provider] ?? provider;
}

/** The part of a reconnect link template that names the connection or its provider. */
const PLACEHOLDER = /\{([^{}]*)\}/g;
export const reconnectUrlPlaceholders = ["connectionId", "provider"] as const;
type Placeholder = (typeof reconnectUrlPlaceholders)[number];

/** The reconnect link of one connection: the template's placeholders filled in, URL-encoded. */
export function reconnectUrl(template: string, values: Readonly<Record<Placeholder, string>>): string {
  return template.replace(PLACEHOLDER, (whole, name: string) =>
    name in values ? encodeURIComponent(values[name as Placeholder]) : whole,
  );
}

/**
 * Why a reconnect link template cannot be used, or undefined when it can: an absolute http(s) URL
 * without credentials, whose only placeholders are {connectionId} and {provider}. Phrased as the
 * end of `NAME: "value" …`.
 */
export function reconnectUrlProblem(template: string): string | undefined {
  for (const [, name] of template.matchAll(PLACEHOLDER)) {
    if (!(reconnectUrlPlaceholders as readonly string[]).includes(name ?? "")) {
      return `has an unknown placeholder {${name}} (known: {connectionId}, {provider})`;
    }
  }
  const sample = reconnectUrl(template, { connectionId: "c", provider: "p" });
  if (/[{}\s]/.test(sample)) return "has a stray brace or a space";
  let url: URL;
  try {
    url = new URL(sample);
  } catch {
    return "is not a valid URL";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return `has scheme ${url.protocol.replace(/:$/, "")}, not http or https`;
  }
  if (url.username || url.password) return "has credentials in it (a link in an email must not)";
  return undefined;
}
