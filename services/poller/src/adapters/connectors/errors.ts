import { parseRetryAfter } from "@syncwell/http-client";

/**
 * What can go wrong talking to a platform, as the engine needs to tell it apart:
 * - unauthorized (401): ask the token service for a refresh; not a platform failure.
 * - rate_limited (429 / 403 with rate-limit headers): wait `retryAfterMs`, for the whole provider.
 * - transient (5xx, timeout, network): retry later with jittered exponential backoff.
 * - malformed (a payload that is not what the API documents): recorded as a failure with the reason.
 * - permanent (other 4xx): recorded; the resource is retried on its normal schedule.
 */
export type PlatformErrorKind = "unauthorized" | "rate_limited" | "transient" | "malformed" | "permanent";

export class PlatformError extends Error {
  override readonly name = "PlatformError";
  readonly kind: PlatformErrorKind;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  constructor(
    kind: PlatformErrorKind,
    message: string,
    options: { status?: number; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.kind = kind;
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** The platform rejected the incremental cursor (Calendar 410 Gone, Gmail 404 on old history): start over with a full sync. */
export class CursorExpiredError extends Error {
  override readonly name = "CursorExpiredError";
}

/** Thrown by a connector when a payload does not have the shape the API documents. */
export function malformed(what: string, detail: string): PlatformError {
  return new PlatformError("malformed", `malformed ${what}: ${detail}`);
}

/** Used when a 429 or a rate-limit 403 gives no time to wait. */
export const DEFAULT_RETRY_AFTER_MS = 60_000;
/** A provider asking for more than this is capped (a bogus header must not stall a platform for days). */
export const MAX_RETRY_AFTER_MS = 6 * 60 * 60_000;
const ERROR_SNIPPET = 200;

/**
 * The error for a platform's answer that is not 2xx or 304, by the kinds above: `what` names the
 * request (`GET /gmail/v1/users/me/profile`), the message adds a short reason from the body. Every
 * response goes through here, whether it came alone or as a part of a batch answer.
 */
export function statusError(what: string, status: number, headers: Headers, text: string): PlatformError {
  const detail = errorDetail(text);
  const message = `${what} returned ${status}${detail ? `: ${detail}` : ""}`;
  if (status === 401) return new PlatformError("unauthorized", message, { status });
  if (status === 429 || (status === 403 && isRateLimitResponse(headers))) {
    return new PlatformError("rate_limited", message, {
      status,
      retryAfterMs: retryAfterOf(headers, Date.now()),
    });
  }
  if (status >= 500) return new PlatformError("transient", message, { status });
  return new PlatformError("permanent", message, { status });
}

/** A 403 that is a rate limit (GitHub's primary and secondary limits) rather than a refusal. */
function isRateLimitResponse(headers: Headers): boolean {
  return headers.has("retry-after") || headers.get("x-ratelimit-remaining") === "0";
}

/** How long a rate-limited response asks to wait: Retry-After, else the rate-limit reset headers. */
export function retryAfterOf(headers: Headers, now: number): number {
  const fromHeader = parseRetryAfter(headers.get("retry-after"), now);
  let ms = fromHeader;
  if (ms === undefined) {
    const resetAfter = Number(headers.get("x-ratelimit-reset-after") ?? Number.NaN); // Discord: seconds
    const resetAt = Number(headers.get("x-ratelimit-reset") ?? Number.NaN); // GitHub: epoch seconds
    if (Number.isFinite(resetAfter)) ms = Math.ceil(resetAfter * 1000);
    else if (Number.isFinite(resetAt) && resetAt > 1e9) ms = Math.max(0, resetAt * 1000 - now);
  }
  return Math.min(MAX_RETRY_AFTER_MS, ms ?? DEFAULT_RETRY_AFTER_MS);
}

/** A short, single-line reason from an error body (`error.message`, `error_description`, `message`). */
function errorDetail(text: string): string | undefined {
  if (text.trim() === "") return undefined;
  let detail: unknown;
  try {
    const body = JSON.parse(text) as Record<string, unknown>;
    const error = body.error;
    detail =
      (typeof error === "object" && error !== null ? (error as Record<string, unknown>).message : error) ??
      body.error_description ??
      body.message;
  } catch {
    return undefined;
  }
  if (typeof detail !== "string") return undefined;
  return detail.replaceAll(/\s+/g, " ").trim().slice(0, ERROR_SNIPPET) || undefined;
}
