import type { Backoff } from "@syncwell/runtime/backoff";

/**
 * How a consumer retries a failing handler: bounded deliveries, with the backoff (jittered) between
 * them; `initialDelayMs` is the delay before the 2nd delivery.
 */
export type RetryPolicy = Backoff & {
  /** Deliveries allowed in all (the first one included) before the message is dead-lettered. */
  maxDeliver: number;
};

export const defaultRetryPolicy: RetryPolicy = {
  maxDeliver: 5,
  initialDelayMs: 1_000,
  maxDelayMs: 60_000,
  factor: 2,
};

/** Throw from a handler when retrying cannot help (bad reference, impossible state): dead-letters at once. */
export class PermanentError extends Error {
  override readonly name = "PermanentError";
}

/** Throw from a handler to be retried after a known delay (a provider's Retry-After, for example). */
export class RetryLaterError extends Error {
  override readonly name = "RetryLaterError";
  readonly delayMs: number;
  constructor(message: string, delayMs: number, options?: ErrorOptions) {
    super(message, options);
    this.delayMs = delayMs;
  }
}
