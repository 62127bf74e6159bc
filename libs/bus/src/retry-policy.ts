/** How a consumer retries a failing handler: exponential backoff with jitter, bounded deliveries. */
export type RetryPolicy = {
  /** Deliveries allowed in all (the first one included) before the message is dead-lettered. */
  maxDeliver: number;
  /** Delay before the 2nd delivery. */
  initialDelayMs: number;
  /** Upper bound for any delay. */
  maxDelayMs: number;
  /** Growth per further delivery. */
  factor: number;
};

export const defaultRetryPolicy: RetryPolicy = {
  maxDeliver: 5,
  initialDelayMs: 1_000,
  maxDelayMs: 60_000,
  factor: 2,
};

/**
 * Delay before the next delivery after delivery number `delivery` failed (1-based). "Equal jitter":
 * half the exponential step is fixed and half random, so retries of many messages that failed
 * together spread out but never come back sooner than half the step.
 */
export function retryDelayMs(
  policy: RetryPolicy,
  delivery: number,
  random: () => number = Math.random,
): number {
  const step = Math.min(
    policy.maxDelayMs,
    policy.initialDelayMs * policy.factor ** Math.max(0, delivery - 1),
  );
  return Math.round(step / 2 + (step / 2) * random());
}

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
