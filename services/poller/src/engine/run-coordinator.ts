import type { NatsConnection } from "@nats-io/transport-node";
import { type Naming, SharedTickRuns } from "@syncwell/bus";
import { databaseNow, finishJobRun, recordJobRunCounts } from "@syncwell/db";
import type { Logger } from "@syncwell/telemetry";
import type pg from "pg";
import { activeClaims, countWaitingForToken } from "../repositories/poll-claims.repository.ts";
import type { PollEngine, RunSummary } from "./poll-engine.ts";
import { addCounts, emptyCounts } from "./settings.ts";

/** Core NATS subject (in no stream) on which a tick's owner wakes the other replicas. */
export const WAKE_SUBJECT = "poller.run.wake";

export type TickSummary = RunSummary & {
  jobRunId: string;
  /** Due resources left to wait for a refreshed token (counted as skipped). */
  waitingForToken: number;
  status: "succeeded" | "partial";
};

export type PollRunCoordinatorOptions = {
  engine: PollEngine;
  pool: pg.Pool;
  nc: NatsConnection;
  naming: Naming;
  logger: Logger;
};

/**
 * One `tick.poll` across all replicas (the protocol is SharedTickRuns'): every replica runs the same
 * lanes, splitting the due sync states, and the owner finishes the job run. Due resources whose
 * connection has no usable token are left to wait for `token.refreshed`, counted as skipped.
 */
export class PollRunCoordinator {
  private readonly options: PollRunCoordinatorOptions;
  private readonly runs: SharedTickRuns;

  constructor(options: PollRunCoordinatorOptions) {
    this.options = options;
    this.runs = new SharedTickRuns({
      ...options,
      wakeSubject: WAKE_SUBJECT,
      runName: "poll run",
      join: (wake) => options.engine.run({ jobRunId: wake.jobRunId, startedAt: wake.startedAt }),
    });
  }

  /** Listens for other replicas' wake-ups. */
  start(): void {
    this.runs.start();
  }

  /** Runs a tick's polls to completion (see SharedTickRuns) and finishes its job run. */
  async runTick(
    jobRunId: string,
    logger: Logger = this.options.logger,
    signal?: AbortSignal,
  ): Promise<TickSummary> {
    const { engine, pool } = this.options;
    const started = performance.now();
    const startedAt = await databaseNow(pool, "up");
    this.runs.wake(jobRunId, startedAt);
    logger.info(
      { jobRunId, platforms: [...new Set(engine.resources.map((r) => r.platform))] },
      "poll run started",
    );

    const totals = emptyCounts();
    addCounts(totals, await engine.run({ jobRunId, startedAt }));

    const complete = await this.runs.waitForPeerClaims({
      activeClaims: () => activeClaims(pool),
      runAgain: async () => addCounts(totals, await engine.run({ jobRunId, startedAt })),
      maxWaitMs: engine.settings.leaseMs + engine.settings.requestTimeoutMs + 5_000,
      signal,
    });

    const waiting = await countWaitingForToken(pool, {
      resourceKeys: engine.resourceKeys,
      minValidityMs: engine.settings.minTokenValidityMs,
    });
    const recorded = await recordJobRunCounts(pool, jobRunId, {
      skipped: waiting.resources,
      waiting_for_token: waiting.resources,
    });
    const failed = recorded?.failed ?? totals.failed;
    const status = complete && failed === 0 ? "succeeded" : "partial";
    await finishJobRun(pool, jobRunId, {
      status,
      error: !complete
        ? "claims of other replicas were still held when the run stopped waiting"
        : failed > 0
          ? `${failed} resource poll(s) failed`
          : null,
    });
    const summary: TickSummary = {
      ...totals,
      skipped: totals.skipped + waiting.resources,
      jobRunId,
      waitingForToken: waiting.resources,
      durationMs: Math.round(performance.now() - started),
      status,
    };
    logger.info(summary, "poll run finished");
    return summary;
  }

  stop(): Promise<void> {
    return this.runs.stop();
  }
}
