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
