/** Exponential backoff: the first retry waits about `initialDelayMs`, each further one `factor` times more, up to `maxDelayMs`. */
export type Backoff = {
  initialDelayMs: number;
  maxDelayMs: number;
  /** Growth per further attempt (default 2). */
  factor?: number;
};

/**
 * Delay before retry number `attempt` (1 = the first retry), with "equal jitter": half the step is
 * fixed and half random, so a herd that failed together (an outage) comes back spread out, yet
 * none retries sooner than half the step.
 */
export function backoffDelayMs(
  backoff: Backoff,
  attempt: number,
  random: () => number = Math.random,
): number {
  const step = Math.min(
    backoff.maxDelayMs,
    backoff.initialDelayMs * (backoff.factor ?? 2) ** Math.max(0, attempt - 1),
  );
  return Math.round(step / 2 + (step / 2) * random());
}
