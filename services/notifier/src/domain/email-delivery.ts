import { type Backoff, backoffDelayMs } from "@syncwell/runtime";
import type { EmailSendResult } from "../adapters/email/email-provider.ts";
import {
  type EmailTemplateInput,
  type HealthAlertStatus,
  type RenderResult,
  renderEmail,
} from "./email-templates.ts";
import { type NotificationFacts, providerName } from "./notifications.ts";

/**
 * What the email worker decides without I/O: the template input of a stored notification, the
 * email a message sends, and what an attempt's result makes of its message (sent, tried again
 * later, or failed).
 */

/** A notification as stored, with what the email needs from its user and subject. */
export type StoredEmailNotification = {
  kind: string;
  /** Plain text of the in-app notification: a health notification's body is the scorer's reason. */
  body: string;
  /** The reconnect link of a disconnection; null when there is nothing to act on. */
  link: string | null;
  facts: NotificationFacts;
  /** The user's name, for the greeting; untrusted. */
  recipientName: string | null;
  /** The health subject's name (a contact's name or address, a deal's name, a connection's provider); untrusted. */
  subjectName: string | null;
};

const HEALTH_KINDS: Readonly<Record<string, HealthAlertStatus>> = {
  health_critical: "critical",
  health_ghost: "ghost",
  health_stalled: "stalled",
};

const SUBJECT_TYPES = ["connection", "contact", "deal"] as const;

function isSubjectType(value: unknown): value is (typeof SUBJECT_TYPES)[number] {
  return (SUBJECT_TYPES as readonly unknown[]).includes(value);
}

/** The template input of a notification's email, or why it has none. */
export function emailTemplateInput(
  n: StoredEmailNotification,
): { ok: true; input: EmailTemplateInput } | { ok: false; problem: string } {
  if (n.kind === "connection_disconnected") {
    if (n.link === null) return { ok: false, problem: "a disconnection without its reconnect link" };
    const provider = typeof n.facts.provider === "string" ? n.facts.provider : "";
    return {
      ok: true,
      input: {
        kind: "disconnected",
        providerName: providerName(provider),
        reconnectUrl: n.link,
        recipientName: n.recipientName,
      },
    };
  }
  const status = HEALTH_KINDS[n.kind];
  const subjectType = n.facts.subjectKind;
  if (status === undefined || !isSubjectType(subjectType)) {
    return { ok: false, problem: `no email for notifications of kind ${n.kind}` };
  }
  const subjectName =
    subjectType === "connection" && n.subjectName !== null ? providerName(n.subjectName) : n.subjectName;
  return {
    ok: true,
    input: {
      kind: "health_alert",
      status,
      subjectType,
      subjectName: subjectName ?? "",
      reason: n.body,
      actionUrl: n.link,
      recipientName: n.recipientName,
    },
  };
}

/**
 * The email of a stored notification, rendered from the user's and subject's names as they are
 * now: a rename renders another email, which is why a message's email is composed once (see
 * OutgoingEmail).
 */
export function renderNotificationEmail(n: StoredEmailNotification): RenderResult {
  const input = emailTemplateInput(n);
  return input.ok ? renderEmail(input.input) : input;
}

/**
 * Everything the vendor is sent for a message but its idempotency key (the message's id).
 *
 * Composed when the message's first attempt starts, stored on the message (`email`), and sent as
 * stored by that attempt and every later one. The vendor remembers a key's payload and refuses the
 * same key with another one (Resend: 409 `invalid_idempotent_request`), so a retry whose email
 * differed — the user or the subject renamed, the address or the sender changed since the first
 * attempt — would be refused although the first email went out, and could never reach another
 * address under the same key. Plain JSON, so the stored copy is the sent one.
 */
export type OutgoingEmail = {
  from: string;
  to: string;
  replyTo?: string;
  subject: string;
  html: string;
  text: string;
  tags: Record<string, string>;
};

export type EmailSender = { from: string; replyTo: string | undefined };

/** A message to compose: its notification, and the address taken when the message was created. */
export type EmailToCompose = StoredEmailNotification & {
  notificationId: string;
  toAddress: string | null;
};

/** The email a message sends, or why it has none (no address, a notification without an email). */
export function composeEmail(
  m: EmailToCompose,
  sender: EmailSender,
): { ok: true; email: OutgoingEmail } | { ok: false; problem: string } {
  if (m.toAddress === null || m.toAddress === "")
    return { ok: false, problem: "the user has no email address" };
  const rendered = renderNotificationEmail(m);
  if (!rendered.ok) return rendered;
  return {
    ok: true,
    email: {
      from: sender.from,
      to: m.toAddress,
      ...(sender.replyTo === undefined ? {} : { replyTo: sender.replyTo }),
      ...rendered.email,
      tags: { kind: m.kind, notification: m.notificationId },
    },
  };
}

export type RetryPolicy = {
  /** Attempts after which a message that still cannot be sent fails. */
  maxAttempts: number;
  backoff: Backoff;
  /**
   * Retries stop once a message is this old: the vendor keeps an idempotency key for a limited
   * time (Resend: 24 hours), and a retry after it could send the email a second time.
   */
  maxAgeMs: number;
};

/** What an attempt makes of its message. */
export type DeliveryStep =
  | { status: "sent"; providerMessageId: string }
  | { status: "pending"; delayMs: number; error: string }
  | { status: "failed"; error: string };

/**
 * Sent; rejected → failed with the vendor's reason; retryable → due again after the backoff of
 * this attempt, and at least the vendor's `Retry-After`, unless it was the last attempt or the
 * retry would come after the idempotency key has expired.
 */
export function deliveryStep(
  result: EmailSendResult,
  attempt: number,
  ageMs: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): DeliveryStep {
  if (result.outcome === "sent") return { status: "sent", providerMessageId: result.providerMessageId };
  if (result.outcome === "rejected") return { status: "failed", error: result.reason };
  if (attempt >= policy.maxAttempts) {
    return { status: "failed", error: `gave up after ${attempt} attempts: ${result.reason}` };
  }
  const delayMs = Math.max(backoffDelayMs(policy.backoff, attempt, random), result.retryAfterMs ?? 0);
  if (ageMs + delayMs > policy.maxAgeMs) {
    return { status: "failed", error: `gave up: a retry would come too late to be safe: ${result.reason}` };
  }
  return { status: "pending", delayMs, error: result.reason };
}
