import { envDurationMs } from "@syncwell/runtime";
import { redactSecrets } from "@syncwell/telemetry";
import { z } from "zod";

/**
 * The one small interface every email vendor sits behind (Novu's shape: one `<vendor>.provider.ts`
 * per vendor). A provider sends one message and says what happened as a value; it never throws
 * for anything the network or the vendor does, and never retries itself: the caller owns the
 * retry schedule, the rate limit and the delivery audit.
 */

export type EmailMessage = {
  /**
   * Sent as the vendor's idempotency key (Resend: `Idempotency-Key`): the delivery's id, so a
   * retry, a redelivered event or a crash between the send and the ack never sends twice.
   */
  idempotencyKey: string;
  /** `address@domain` or `Name <address@domain>`, on a domain verified at the vendor. */
  from: string;
  to: string | readonly string[];
  subject: string;
  html: string;
  text: string;
  replyTo?: string | undefined;
  /** Labels the vendor keeps with the email (kind, notification id) for its logs and webhooks. */
  tags?: Readonly<Record<string, string>> | undefined;
};

export type EmailSendResult =
  | { outcome: "sent"; providerMessageId: string }
  | {
      /** 429, 5xx, a timeout or a network failure: the same message may be sent again later. */
      outcome: "retryable";
      /** What went wrong, for the delivery audit; never holds the API key. */
      reason: string;
      /** The HTTP status, or null when no answer was read (network, timeout). */
      httpStatus: number | null;
      /** From the vendor's `Retry-After` (or its rate-limit reset) when it sent one. */
      retryAfterMs?: number;
    }
  | {
      /** Any other refusal (4xx): sending the same message again would be refused again. */
      outcome: "rejected";
      reason: string;
      httpStatus: number | null;
    };

export type EmailProvider = {
  /** The vendor's name, for the delivery audit (`resend`). */
  readonly name: string;
  send(message: EmailMessage): Promise<EmailSendResult>;
};

/** Variables every email provider shares; each provider file exports its own beside them. */
export const emailConfigFields = {
  /** Sender of every email, `Syncwell <alerts@example.com>`; unset turns the email channel off. */
  EMAIL_FROM: z
    .string()
    .min(3)
    .regex(/^[^\r\n]+$/, "must be one line")
    .optional()
    .describe("sender of every email, `Name <address>` on a verified domain; unset turns email off"),
  /** Where replies go, when not to EMAIL_FROM. */
  EMAIL_REPLY_TO: z
    .string()
    .min(3)
    .regex(/^[^\r\n]+$/, "must be one line")
    .optional(),
  /** Time limit of one send request, connection to answer; past it the send counts as retryable. */
  EMAIL_SEND_TIMEOUT: envDurationMs().default(15_000),
};

/** How a vendor's failed answer was read. */
export type EmailFailure = {
  /** The HTTP status, or null when there was no answer (network, timeout). */
  httpStatus: number | null;
  /** The vendor's error code (`rate_limit_exceeded`), or null. */
  code: string | null;
  message: string;
  /** Parsed `Retry-After` (or rate-limit reset), in ms. */
  retryAfterMs?: number | undefined;
};

/** Vendor error codes that mean "the same request later", whatever their status says. */
const RETRYABLE_CODES = new Set(["concurrent_idempotent_requests"]);
const MAX_REASON_CHARS = 300;
/** API-key-like runs: Resend's `re_…`, and any long run of letters and digits. */
const KEY_LIKE = /\bre_[A-Za-z0-9_]{4,}|[A-Za-z0-9_]{32,}/g;

/** A failure's reason with `secrets` (the API key) and anything key-like masked, on one short line. */
export function failureReason(failure: EmailFailure, secrets: readonly string[]): string {
  const head = [failure.httpStatus ?? "no answer", failure.code].filter((part) => part !== null).join(" ");
  let text = `${head}: ${failure.message}`;
  for (const secret of secrets) if (secret.length >= 4) text = text.split(secret).join("[redacted]");
  text = redactSecrets(text).replace(KEY_LIKE, "[redacted]").replace(/\s+/g, " ").trim();
  return text.length > MAX_REASON_CHARS ? `${text.slice(0, MAX_REASON_CHARS - 1)}…` : text;
}

/**
 * Retryable: no answer, 429 (rate limit or quota), 5xx, and a key whose first request is still in
 * flight (409 `concurrent_idempotent_requests`). Rejected: every other answer, 4xx above all —
 * an invalid address or a refused key stays refused however often it is sent.
 */
export function classifyEmailFailure(failure: EmailFailure, secrets: readonly string[]): EmailSendResult {
  const reason = failureReason(failure, secrets);
  const status = failure.httpStatus;
  const retryable =
    status === null ||
    status === 429 ||
    status >= 500 ||
    (failure.code !== null && RETRYABLE_CODES.has(failure.code));
  if (!retryable) return { outcome: "rejected", reason, httpStatus: status };
  return failure.retryAfterMs === undefined
    ? { outcome: "retryable", reason, httpStatus: status }
    : { outcome: "retryable", reason, httpStatus: status, retryAfterMs: failure.retryAfterMs };
}
