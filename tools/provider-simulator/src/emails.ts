import { createHash, randomUUID } from "node:crypto";
import { z } from "zod";
import { isoString } from "./data/time.ts";
import { type RateLimitConfig, type RateLimitDecision, TokenBuckets } from "./rate-limit.ts";
import { RingBuffer } from "./ring-buffer.ts";

/**
 * Resend's `POST /emails` as the simulator keeps it: the emails it accepted, the idempotency keys
 * it remembers (24 hours, as Resend does) and an optional team-wide rate limit.
 */

/** Resend keeps an idempotency key, and the answer it gave, this long. */
export const IDEMPOTENCY_WINDOW_MS = 24 * 60 * 60 * 1000;
/** Resend refuses keys outside 1–256 characters (`invalid_idempotency_key`). */
export const MAX_IDEMPOTENCY_KEY_CHARS = 256;
/** Resend takes at most 50 addresses in `to`. */
const MAX_RECIPIENTS = 50;

/** The names Resend puts in an error body's `name` (docs: API reference, Errors). */
export type ResendErrorName =
  | "validation_error"
  | "missing_required_field"
  | "missing_api_key"
  | "invalid_api_key"
  | "invalid_idempotency_key"
  | "invalid_idempotent_request"
  | "concurrent_idempotent_requests"
  | "rate_limit_exceeded"
  | "application_error"
  | "internal_server_error";

/** Resend's error body: `{ "statusCode": 422, "name": "validation_error", "message": "…" }`. */
export type ResendError = { statusCode: number; name: ResendErrorName | string; message: string };

// `email@example.com` or `Name <email@example.com>`: what Resend's `from` and recipients accept.
const BARE_ADDRESS = /^[^\s@<>"]+@[^\s@<>"]+\.[^\s@<>"]+$/;
const NAMED_ADDRESS = /^[^<>\r\n]*<([^\s@<>"]+@[^\s@<>"]+\.[^\s@<>"]+)>$/;

function isAddress(value: string): boolean {
  const text = value.trim();
  return BARE_ADDRESS.test(text) || NAMED_ADDRESS.test(text);
}

const NO_LINE_BREAK = /^[^\r\n]*$/;
const address = z.string().refine(isAddress, "must be `email@example.com` or `Name <email@example.com>`");
const addresses = z.union([address, z.array(address).min(1)]);
/** Tag names and values: ASCII letters, digits, underscores and dashes, at most 256 characters. */
const tagText = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[A-Za-z0-9_-]+$/, "only ASCII letters, numbers, underscores or dashes");

/**
 * The body of `POST /emails`, with the fields a notifier sends checked as Resend checks them.
 * Unknown fields are dropped, as Resend ignores them. Header values and the subject may not hold
 * a line break: nothing that carries one can be written into a message header.
 */
export const sendEmailBody = z
  .object({
    from: address.refine((v) => NO_LINE_BREAK.test(v), "must not contain a line break"),
    to: addresses.refine(
      (v) => typeof v === "string" || v.length <= MAX_RECIPIENTS,
      `at most ${MAX_RECIPIENTS} recipients`,
    ),
    subject: z.string().regex(NO_LINE_BREAK, "must not contain a line break"),
    html: z.string().optional(),
    text: z.string().optional(),
    cc: addresses.optional(),
    bcc: addresses.optional(),
    reply_to: addresses.optional(),
    headers: z
      .record(z.string(), z.string().regex(NO_LINE_BREAK, "must not contain a line break"))
      .optional(),
    tags: z.array(z.strictObject({ name: tagText, value: tagText })).optional(),
    scheduled_at: z.string().optional(),
  })
  .refine((body) => body.html !== undefined || body.text !== undefined, {
    message: "an email needs `html` or `text`",
    path: ["html"],
  });

export type SendEmailBody = z.output<typeof sendEmailBody>;

const REQUIRED_FIELDS = ["from", "to", "subject"] as const;

/**
 * The body to send, or Resend's 422 naming the first bad field: `missing_required_field` for an
 * absent `from`, `to` or `subject`, `validation_error` for anything else.
 */
export function checkEmailBody(
  raw: unknown,
): { ok: true; body: SendEmailBody } | { ok: false; error: ResendError } {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return {
      ok: false,
      error: { statusCode: 422, name: "validation_error", message: "Invalid request body." },
    };
  }
  const record = raw as Record<string, unknown>;
  const missing = REQUIRED_FIELDS.filter((field) => record[field] === undefined || record[field] === null);
  if (missing.length > 0) {
    const list = missing.map((field) => `\`${field}\``).join(", ");
    return {
      ok: false,
      error: { statusCode: 422, name: "missing_required_field", message: `Missing ${list} field.` },
    };
  }
  const parsed = sendEmailBody.safeParse(raw);
  if (parsed.success) return { ok: true, body: parsed.data };
  const issue = parsed.error.issues[0];
  const field = issue?.path.length ? issue.path.map(String).join(".") : "body";
  return {
    ok: false,
    error: {
      statusCode: 422,
      name: "validation_error",
      message: `Invalid \`${field}\` field: ${issue?.message ?? "invalid"}.`,
    },
  };
}

function asList(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return typeof value === "string" ? [value] : [...value];
}

/** One email the simulator accepted, as the control API lists it. */
export type ReceivedEmail = {
  /** The id answered (`{"id": …}`), a UUID as Resend's are. */
  id: string;
  seq: number;
  receivedAt: string;
  idempotencyKey: string | null;
  from: string;
  to: string[];
  cc: string[];
  bcc: string[];
  replyTo: string[];
  subject: string;
  html: string | null;
  text: string | null;
  headers: Record<string, string>;
  tags: Array<{ name: string; value: string }>;
};

export type EmailFilter = {
  /** Emails with this address among `to`, `cc` or `bcc` (case-insensitive). */
  to?: string | undefined;
  idempotencyKey?: string | undefined;
  /** Only emails with seq greater than this. */
  since?: number | undefined;
  /** At most this many (the newest ones), still oldest first. */
  limit?: number | undefined;
};

/** What a key was first used for, and the answer it got. */
type IdempotencyRecord = { fingerprint: string; emailId: string; at: number };

/** What to do with a request carrying an idempotency key. */
export type IdempotencyCheck =
  | { kind: "new" }
  | { kind: "replay"; emailId: string }
  | { kind: "conflict"; error: ResendError };

export type EmailCounters = {
  /** Emails accepted (each sent once), whatever the bounded list still holds. */
  sent: number;
  /** Requests answered from an idempotency key's first answer, nothing sent. */
  replayed: number;
};

/** Canonical JSON (sorted keys) of a body, hashed: the same payload gives the same fingerprint. */
export function payloadFingerprint(body: unknown): string {
  const canonical = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(canonical);
    if (typeof value === "object" && value !== null) {
      const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1));
      return Object.fromEntries(entries.map(([k, v]) => [k, canonical(v)]));
    }
    return value;
  };
  return createHash("sha256")
    .update(JSON.stringify(canonical(body)))
    .digest("hex");
}

export class EmailStore {
  private readonly now: () => number;
  private readonly received: RingBuffer<ReceivedEmail>;
  /** In insertion order, which is time order: expired keys are dropped from the front. */
  private readonly keys = new Map<string, IdempotencyRecord>();
  /** Keys whose first request is still being handled. */
  private readonly inFlight = new Set<string>();
  private readonly buckets = new TokenBuckets();
  private seq = 0;
  private counters: EmailCounters = { sent: 0, replayed: 0 };
  rateLimit: RateLimitConfig | null = null;

  constructor(now: () => number, capacity: number) {
    this.now = now;
    this.received = new RingBuffer(capacity);
  }

  /** Forget every email, key, counter and the rate limit. */
  clear(): void {
    this.received.clear();
    this.keys.clear();
    this.inFlight.clear();
    this.buckets.clear();
    this.rateLimit = null;
    this.seq = 0;
    this.counters = { sent: 0, replayed: 0 };
  }

  setRateLimit(config: RateLimitConfig | null): void {
    this.rateLimit = config;
    this.buckets.clear();
  }

  /** The team-wide limit, as Resend applies it to every request; always ok when none is set. */
  takeRateLimit(): RateLimitDecision {
    return this.rateLimit === null ? { ok: true } : this.buckets.take("team", this.rateLimit, this.now());
  }

  /**
   * Resend's idempotency: a key seen within 24 hours with the same payload gets the first answer;
   * with another payload, 409 `invalid_idempotent_request`; while its first request is still being
   * handled, 409 `concurrent_idempotent_requests`. A new key is marked in flight until `finish`.
   */
  beginIdempotent(key: string, fingerprint: string): IdempotencyCheck {
    this.dropExpiredKeys();
    const record = this.keys.get(key);
    if (record !== undefined) {
      if (record.fingerprint !== fingerprint) {
        return {
          kind: "conflict",
          error: {
            statusCode: 409,
            name: "invalid_idempotent_request",
            message: "Same idempotency key used with a different request payload.",
          },
        };
      }
      this.counters.replayed += 1;
      return { kind: "replay", emailId: record.emailId };
    }
    if (this.inFlight.has(key)) {
      return {
        kind: "conflict",
        error: {
          statusCode: 409,
          name: "concurrent_idempotent_requests",
          message: "Same idempotency key used while original request is still in progress.",
        },
      };
    }
    this.inFlight.add(key);
    return { kind: "new" };
  }

  /** Sends (records) the email; with a key, remembers its answer for 24 hours. */
  accept(body: SendEmailBody, key: string | null, fingerprint: string | null): ReceivedEmail {
    const at = this.now();
    this.seq += 1;
    this.counters.sent += 1;
    const email: ReceivedEmail = {
      id: randomUUID(),
      seq: this.seq,
      receivedAt: isoString(at),
      idempotencyKey: key,
      from: body.from,
      to: asList(body.to),
      cc: asList(body.cc),
      bcc: asList(body.bcc),
      replyTo: asList(body.reply_to),
      subject: body.subject,
      html: body.html ?? null,
      text: body.text ?? null,
      headers: body.headers ?? {},
      tags: body.tags ?? [],
    };
    this.received.push(email);
    if (key !== null && fingerprint !== null) {
      this.inFlight.delete(key);
      this.keys.set(key, { fingerprint, emailId: email.id, at });
    }
    return email;
  }

  list(filter: EmailFilter = {}): ReceivedEmail[] {
    const to = filter.to?.toLowerCase();
    const out: ReceivedEmail[] = [];
    for (const email of this.received) {
      if (filter.since !== undefined && email.seq <= filter.since) continue;
      if (filter.idempotencyKey !== undefined && email.idempotencyKey !== filter.idempotencyKey) continue;
      if (
        to !== undefined &&
        ![...email.to, ...email.cc, ...email.bcc].some((a) => a.toLowerCase().includes(to))
      )
        continue;
      out.push(email);
    }
    return filter.limit !== undefined && out.length > filter.limit
      ? out.slice(out.length - filter.limit)
      : out;
  }

  counts(): EmailCounters {
    return { ...this.counters };
  }

  private dropExpiredKeys(): void {
    const cutoff = this.now() - IDEMPOTENCY_WINDOW_MS;
    for (const [key, record] of this.keys) {
      if (record.at > cutoff) break;
      this.keys.delete(key);
    }
  }
}
