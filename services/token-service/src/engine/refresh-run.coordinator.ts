import type { NatsConnection } from "@nats-io/transport-node";
import { type Naming, SharedTickRuns } from "@syncwell/bus";
import { databaseNow, findJobRun, finishJobRun, recordJobRunCounts } from "@syncwell/db";
import type { Logger } from "@syncwell/telemetry";
import type pg from "pg";
import { activeClaims, countDueFor } from "../repositories/refresh-claims.repository.ts";
import type { RefreshEngine, RunCounts } from "./refresh-engine.ts";

/** Core NATS subject (not captured by any stream) on which a tick's owner wakes the other replicas. */
export const WAKE_SUBJECT = "token-service.refresh.wake";

export type TickRunSummary = RunCounts & {
  jobRunId: string;
  durationMs: number;
  /** Due connections of disabled or held providers (counted as skipped). */
  notRefreshable: number;
  status: "succeeded" | "partial";
};

export type RefreshRunCoordinatorOptions = {
  engine: RefreshEngine;
  pool: pg.Pool;
  nc: NatsConnection;
  naming: Naming;
  logger: Logger;
  /** How often the tick's owner looks at the claims other replicas still hold. */
  pollIntervalMs?: number;
};

/**
 * One refresh tick across all replicas (the protocol is SharedTickRuns'): every replica runs the
 * same claim loop, splitting the due connections, and the owner finishes the job run. The run is
 * done only when no claim is left anywhere and a last pass finds nothing left to claim: a claim can
 * also end by release (a replica that stops releases its queued rows), and then nobody holds it.
 * Due connections of disabled or held providers are counted as skipped.
 */
export class RefreshRunCoordinator {
  private readonly options: RefreshRunCoordinatorOptions;
  private readonly runs: SharedTickRuns;

  constructor(options: RefreshRunCoordinatorOptions) {
    this.options = options;
    const { engine } = options;
    this.runs = new SharedTickRuns({
      ...options,
      wakeSubject: WAKE_SUBJECT,
      runName: "token refresh run",
      join: async (wake, logger) => {
        const result = await engine.runBatch({
          jobRunId: wake.jobRunId,
          attemptedBefore: wake.startedAt,
          logger,
        });
        return { ...result.counts, durationMs: result.durationMs };
      },
    });
  }

  /** Listens for other replicas' wake-ups. */
  start(): void {
    this.runs.start();
  }

  /** Runs the tick's refresh to completion (see SharedTickRuns) and finishes its job run. */
  async runTick(
    jobRunId: string,
    logger: Logger = this.options.logger,
    signal?: AbortSignal,
  ): Promise<TickRunSummary> {
    const { engine, pool } = this.options;
    const started = performance.now();
    // A redelivered tick continues its run: what any replica attempted since the run started is
    // not attempted (nor counted) again.
    const attemptedBefore =
      (await findJobRun(pool, jobRunId))?.startedAt ?? (await databaseNow(pool, "down"));
    this.runs.wake(jobRunId, attemptedBefore);
    logger.info(
      {
        jobRunId,
        providers: engine.activeProviders().map((p) => p.id),
        leadMs: engine.settings.leadMs,
      },
      "token refresh run started",
    );

    const totals: RunCounts = { checked: 0, refreshed: 0, failed: 0, skipped: 0 };
    const add = (counts: RunCounts) => {
      for (const key of Object.keys(totals) as (keyof RunCounts)[]) totals[key] += counts[key];
    };
    add((await engine.runBatch({ jobRunId, attemptedBefore, logger, signal })).counts);

    // Done when nothing is claimed anywhere and a last pass found nothing left to claim.
    const complete = await this.runs.waitForPeerClaims({
      activeClaims: () => activeClaims(pool),
      runAgain: async () =>
        add((await engine.runBatch({ jobRunId, attemptedBefore, logger, signal })).counts),
      finalPass: async () => {
        const last = await engine.runBatch({ jobRunId, attemptedBefore, logger, signal });
        add(last.counts);
        return last.claimed === 0;
      },
      maxWaitMs:
        engine.settings.leaseMs * 3 + engine.settings.sendTimeoutMs + engine.settings.answerTimeoutMs,
      pollIntervalMs: this.options.pollIntervalMs,
      signal,
    });

    const inactive = engine.inactiveProviders().map((p) => p.id);
    const notRefreshable = await countDueFor(pool, inactive, engine.settings.leadMs);
    if (notRefreshable > 0) {
      await recordJobRunCounts(pool, jobRunId, { checked: notRefreshable, skipped: notRefreshable });
    }
    const status = complete ? "succeeded" : "partial";
    await finishJobRun(pool, jobRunId, {
      status,
      error: complete ? null : "claims of other replicas were still running when the run gave up waiting",
    });
    const summary: TickRunSummary = {
      jobRunId,
      ...totals,
      notRefreshable,
      durationMs: Math.round(performance.now() - started),
      status,
    };
    logger.info({ ...summary, inactiveProviders: inactive }, "token refresh run finished");
    return summary;
  }

  stop(): Promise<void> {
    return this.runs.stop();
  }
}
