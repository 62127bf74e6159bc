/**
 * The notifier's emails: a subject, an HTML part and a plain-text part per kind of notification.
 *
 * Everything a user or a platform chose (connection, provider, contact and deal names, a health
 * reason) is untrusted: it is escaped in the HTML part, put on one line in the subject (a line
 * break there would start a new header) and in the text part, and cut to a sane length. Links
 * are taken only as absolute http(s) URLs; anything else (`javascript:`, `data:`, a relative
 * path) refuses the whole email rather than sending a dead or dangerous link.
 *
 * Pure: no I/O, no clock. Rendering returns a result; it never throws.
 */

export type RenderedEmail = { subject: string; html: string; text: string };

export type RenderResult = { ok: true; email: RenderedEmail } | { ok: false; problem: string };

/** A connection is lost for good (3rd failure, or a permanent one): the user must reconnect. */
export type DisconnectedEmailInput = {
  kind: "disconnected";
  /** The platform's display name (`Gmail`). */
  providerName: string;
  /** The user's own label for the connection (`Work inbox`), when it has one. */
  connectionName?: string | null | undefined;
  /** Why, in words for the user (`access was revoked`), when known. */
  reason?: string | null | undefined;
  /** Where the user reconnects: built from the configured reconnect URL. */
  reconnectUrl: string;
  recipientName?: string | null | undefined;
};

export const healthAlertStatuses = ["critical", "ghost", "stalled"] as const;
export type HealthAlertStatus = (typeof healthAlertStatuses)[number];

/** A health score turned critical, ghost or stalled. */
export type HealthAlertEmailInput = {
  kind: "health_alert";
  status: HealthAlertStatus;
  subjectType: "connection" | "contact" | "deal";
  /** The contact's, deal's or connection's name. */
  subjectName: string;
  /** The health scorer's explanation (`no reply in 45 days`), when it gave one. */
  reason?: string | null | undefined;
  /** Where to look at it in the app, when there is such a page. */
  actionUrl?: string | null | undefined;
  recipientName?: string | null | undefined;
};

export type EmailTemplateInput = DisconnectedEmailInput | HealthAlertEmailInput;

/** User text longer than this is cut (a name is not an essay; a subject stays readable). */
const MAX_VALUE_CHARS = 200;
const MAX_SUBJECT_CHARS = 150;

const HTML_ESCAPES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Text safe inside HTML elements and quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}

/**
 * One line of plain text: control characters (CR, LF, tab, NUL …) and Unicode line and paragraph
 * separators become spaces, runs of spaces one, ends trimmed, long text cut with an ellipsis.
 */
export function oneLine(text: string, max = MAX_VALUE_CHARS): string {
  const flat = text
    .replace(/[\p{Cc}\u2028\u2029]/gu, " ")
    .replace(/\s+/g, " ")
    .trim();
  return flat.length > max ? `${flat.slice(0, max - 1).trimEnd()}…` : flat;
}

/** An absolute http(s) URL, normalised; null for any other scheme or for what does not parse. */
export function safeLinkUrl(raw: string): string | null {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    return null;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return null;
  if (url.username !== "" || url.password !== "") return null;
  return url.href;
}

/** The pieces of one email before layout; every string here is already one line of plain text. */
type Draft = {
  subject: string;
  greeting: string;
  paragraphs: string[];
  action: { label: string; url: string } | null;
  footer: string;
};

const FOOTER = "You receive this email because you connected your accounts to Syncwell.";

function greeting(name: string | null | undefined): string {
  const clean = name === null || name === undefined ? "" : oneLine(name, 80);
  return clean === "" ? "Hello," : `Hello ${clean},`;
}

function optional(value: string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  const clean = oneLine(value);
  return clean === "" ? null : clean;
}

/** A reason as a sentence: the template adds the full stop. */
function sentence(value: string | null | undefined): string | null {
  const clean = optional(value)?.replace(/[.\s]+$/, "");
  return clean === undefined || clean === "" ? null : clean;
}

function disconnectedDraft(input: DisconnectedEmailInput, url: string): Draft {
  const provider = oneLine(input.providerName) || "An account";
  const label = optional(input.connectionName);
  const named = label === null ? provider : `${provider} (${label})`;
  const reason = sentence(input.reason);
  return {
    subject: `${named} is disconnected from Syncwell`,
    greeting: greeting(input.recipientName),
    paragraphs: [
      `Syncwell lost access to your ${named} account and has stopped syncing it.`,
      ...(reason === null ? [] : [`Reason: ${reason}.`]),
      "Reconnect it to resume syncing. Nothing is lost in the meantime.",
    ],
    action: { label: `Reconnect ${provider}`, url },
    footer: FOOTER,
  };
}

const HEALTH_WORDS: Readonly<Record<HealthAlertStatus, { subject: string; sentence: string }>> = {
  critical: { subject: "needs attention", sentence: "is now in a critical state" },
  ghost: { subject: "has gone quiet", sentence: "has gone quiet (ghost)" },
  stalled: { subject: "has stalled", sentence: "has stalled" },
};

const SUBJECT_NOUN = {
  connection: "Your connection",
  contact: "Your relationship with",
  deal: "Your deal",
} as const;

function healthDraft(input: HealthAlertEmailInput, url: string | null): Draft {
  const name = oneLine(input.subjectName) || "(unnamed)";
  const words = HEALTH_WORDS[input.status];
  const reason = sentence(input.reason);
  return {
    subject: `${name} ${words.subject}`,
    greeting: greeting(input.recipientName),
    paragraphs: [
      `${SUBJECT_NOUN[input.subjectType]} ${name} ${words.sentence}.`,
      ...(reason === null ? [] : [`Why: ${reason}.`]),
    ],
    action: url === null ? null : { label: "Open in Syncwell", url },
    footer: FOOTER,
  };
}

function layoutHtml(draft: Draft): string {
  const p = (text: string) => `<p style="margin:0 0 16px">${escapeHtml(text)}</p>`;
  const button =
    draft.action === null
      ? ""
      : `<p style="margin:24px 0"><a href="${escapeHtml(draft.action.url)}" style="background:#1f6feb;color:#ffffff;padding:10px 18px;border-radius:6px;text-decoration:none;display:inline-block">${escapeHtml(draft.action.label)}</a></p>`;
  return [
    "<!doctype html>",
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>${escapeHtml(draft.subject)}</title></head>`,
    '<body style="font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:15px;line-height:1.5;color:#1f2328;margin:0;padding:24px">',
    p(draft.greeting),
    ...draft.paragraphs.map(p),
    button,
    `<p style="margin:32px 0 0;color:#656d76;font-size:12px">${escapeHtml(draft.footer)}</p>`,
    "</body></html>",
  ].join("\n");
}

function layoutText(draft: Draft): string {
  const action = draft.action === null ? [] : [`${draft.action.label}: ${draft.action.url}`, ""];
  return [
    draft.greeting,
    "",
    ...draft.paragraphs.flatMap((text) => [text, ""]),
    ...action,
    "--",
    draft.footer,
    "",
  ].join("\n");
}

function finish(draft: Draft): RenderResult {
  return {
    ok: true,
    email: {
      subject: oneLine(draft.subject, MAX_SUBJECT_CHARS),
      html: layoutHtml(draft),
      text: layoutText(draft),
    },
  };
}

/** The email for one notification, or why it cannot be sent (a link that is not http(s)). */
export function renderEmail(input: EmailTemplateInput): RenderResult {
  if (input.kind === "disconnected") {
    const url = safeLinkUrl(input.reconnectUrl);
    if (url === null) return { ok: false, problem: "reconnectUrl must be an absolute http(s) URL" };
    return finish(disconnectedDraft(input, url));
  }
  if (input.actionUrl === null || input.actionUrl === undefined) return finish(healthDraft(input, null));
  const url = safeLinkUrl(input.actionUrl);
  if (url === null) return { ok: false, problem: "actionUrl must be an absolute http(s) URL" };
  return finish(healthDraft(input, url));
}
