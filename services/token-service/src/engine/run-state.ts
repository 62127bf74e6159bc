import type { Logger } from "@syncwell/telemetry";

export type RunCounts = { checked: number; refreshed: number; failed: number; skipped: number };

/** Time spent in claim queries, in the rate limiter and in token requests (progress logs). */
export type RunTiming = {
  claims: number;
  claimMs: number;
  limiterMs: number;
  requests: number;
  requestMs: number;
};

/** One pass of the engine over what is due (a `runBatch`, or one on-demand refresh). */
export type RunState = {
  counts: RunCounts;
  timing: RunTiming;
  /** Rows claimed, requeued ones included. */
  claimed: number;
  jobRunId: string | undefined;
  /** Rows attempted at or after this (database) instant are not attempted again in this run. */
  attemptedBefore: Date;
  /** Refreshes started and outcomes handed to the writer: the run ends once all have settled. */
  unfinished: Set<Promise<unknown>>;
  /** Ends the run's claiming: the engine stopping, or the tick run's deadline. */
  signal: AbortSignal;
};

export function newRunState(
  jobRunId: string | undefined,
  attemptedBefore: Date,
  signal: AbortSignal,
): RunState {
  return {
    counts: { checked: 0, refreshed: 0, failed: 0, skipped: 0 },
    timing: { claims: 0, claimMs: 0, limiterMs: 0, requests: 0, requestMs: 0 },
    claimed: 0,
    jobRunId,
    attemptedBefore,
    unfinished: new Set(),
    signal,
  };
}

/** The run does not end before `work` has settled. */
export function trackInRun(run: RunState, work: Promise<unknown>): void {
  run.unfinished.add(work);
  void work.finally(() => run.unfinished.delete(work));
}

/** Waits for everything the run started, including what settling work started meanwhile. */
export async function settleRun(run: RunState): Promise<void> {
  while (run.unfinished.size > 0) await Promise.allSettled([...run.unfinished]);
}

/** Figures of this replica that a progress line reports beside the run's own. */
export type ReplicaLoad = { inFlight: number; pendingWrites: number };

/** Logs the run's progress every `intervalMs` until the returned timer is cleared. */
export function logRunProgress(
  run: RunState,
  logger: Logger,
  intervalMs: number,
  load: () => ReplicaLoad,
): NodeJS.Timeout {
  const started = performance.now();
  const timer = setInterval(() => {
    const seconds = (performance.now() - started) / 1000;
    const { timing } = run;
    const { inFlight, pendingWrites } = load();
    logger.info(
      {
        jobRunId: run.jobRunId,
        ...run.counts,
        inFlight,
        perSecond: Math.round(run.counts.checked / Math.max(seconds, 0.001)),
        pendingWrites,
        claimMsAvg: round(timing.claimMs / Math.max(1, timing.claims)),
        limiterMsAvg: round(timing.limiterMs / Math.max(1, timing.claims)),
        requestMsAvg: round(timing.requestMs / Math.max(1, timing.requests)),
      },
      "token refresh in progress",
    );
  }, intervalMs);
  timer.unref();
  return timer;
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
