import type { Logger } from "pino";

export type RepeatedFailureLogOptions = {
  /** At most one failure line per this long (default 10 s); the line carries the count. */
  intervalMs?: number;
  /** Level of the failure lines (default "error"); the recovery line is "info". */
  level?: "warn" | "error";
  /** What happens next, appended to each failure line (default "retrying"). */
  next?: string;
  /** Clock in ms (tests). */
  now?: () => number;
};

export type RepeatedFailureLog = {
  /** One failure: logged at once if no failure line went out within the interval, otherwise counted. */
  failed(err: unknown, fields?: Record<string, unknown>): void;
  /** The operation worked: one "works again" line if this streak of failures was logged. */
  succeeded(fields?: Record<string, unknown>): void;
  /** Failures since the last success (for a retry delay). */
  readonly consecutive: number;
};

/**
 * Log lines for an operation retried in a loop (a claim query, a relay round, a reconnect): during
 * an outage a loop fails many times a second, and a line per attempt buries everything else. The
 * first failure is logged at once; further ones produce at most one line per interval, e.g.
 * `claiming due sync states failed (37 times in the last 10 s); retrying`, with the latest error;
 * the first success after a logged failure says so, with the streak's length.
 *
 * `what` names the operation as a gerund phrase ("claiming due sync states"). Use one instance per
 * loop (or per independent key): a success of one loop must not end another's streak.
 */
export function repeatedFailureLog(
  logger: Logger,
  what: string,
  options: RepeatedFailureLogOptions = {},
): RepeatedFailureLog {
  const intervalMs = options.intervalMs ?? 10_000;
  const level = options.level ?? "error";
  const next = options.next ?? "retrying";
  const now = options.now ?? Date.now;
  let consecutive = 0;
  let streakStartedAt = 0;
  /** Failures not in any line yet (a quiet streak's carry over to the next line). */
  let unreported = 0;
  let unreportedSince = 0;
  let lastLineAt = Number.NEGATIVE_INFINITY;
  let streakLogged = false;

  return {
    failed(err, fields = {}) {
      const t = now();
      if (consecutive === 0) streakStartedAt = t;
      consecutive++;
      if (unreported === 0) unreportedSince = t;
      unreported++;
      if (t - lastLineAt < intervalMs) return;
      const message =
        unreported === 1
          ? `${what} failed; ${next}`
          : `${what} failed (${unreported} times in the last ${seconds(t - unreportedSince)} s); ${next}`;
      logger[level]({ ...fields, err, failures: unreported, consecutiveFailures: consecutive }, message);
      lastLineAt = t;
      unreported = 0;
      streakLogged = true;
    },
    succeeded(fields = {}) {
      if (consecutive === 0) return;
      if (streakLogged) {
        const forMs = now() - streakStartedAt;
        logger.info(
          { ...fields, failures: consecutive, failingForMs: forMs },
          `${what} works again after ${consecutive} failure${consecutive === 1 ? "" : "s"} in ${seconds(forMs)} s`,
        );
        unreported = 0;
      }
      consecutive = 0;
      streakLogged = false;
    },
    get consecutive() {
      return consecutive;
    },
  };
}

/** Whole seconds, at least 1: "in the last 0 s" reads as a bug. */
function seconds(ms: number): number {
  return Math.max(1, Math.round(ms / 1000));
}
