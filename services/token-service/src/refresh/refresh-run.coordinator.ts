import type { NatsConnection } from "@nats-io/transport-node";
import {
  type Naming,
  type ReplicaWakeups,
  RetryLaterError,
  startReplicaWakeups,
  type WakeUp,
} from "@syncwell/bus";
import { finishJobRun, recordJobRunCounts } from "@syncwell/db";
import { sleep } from "@syncwell/runtime";
import type { Logger } from "@syncwell/telemetry";
import type pg from "pg";
import { activeClaims, countDueFor, databaseNow } from "./claims.repository.ts";
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
 * One refresh tick across all replicas. A tick reaches one replica (the durable consumer is shared),
 * but the work should not: the replica that got it (the owner) broadcasts a wake-up on core NATS,
 * and every replica runs the same claim loop, splitting the due connections through
 * `FOR UPDATE SKIP LOCKED`. A lost wake-up costs only speed: the owner does all the work alone.
 *
 * The owner's handler runs until the run is complete: after its own loop it waits for the claims
 * other replicas still hold, and takes over those of a replica that died once their lease lapses.
 * Every replica adds its counts to the job run in the same transactions as its outcomes, so when no
 * claim is left the owner can finish the job run with complete counts.
 */
export class RefreshRunCoordinator {
  private readonly options: RefreshRunCoordinatorOptions;
  private wakeups: ReplicaWakeups | undefined;

  constructor(options: RefreshRunCoordinatorOptions) {
    this.options = options;
  }

  /** Listens for other replicas' wake-ups. */
  /** Listens for other replicas' wake-ups. */
  start(): void {
    if (this.wakeups) return;
    const { engine, nc, naming, logger } = this.options;
    this.wakeups = startReplicaWakeups({
      nc,
      naming,
      subject: WAKE_SUBJECT,
      replicaId: engine.replicaId,
      logger,
      isStopping: () => engine.stopping,
      join: (wake) => this.joinRun(wake),
    });
  }

  private async joinRun(wake: WakeUp): Promise<void> {
    const logger = this.options.logger.child({ jobRunId: wake.jobRunId });
    try {
      const result = await this.options.engine.runBatch({
        jobRunId: wake.jobRunId,
        attemptedBefore: wake.startedAt,
        logger,
      });
      logger.info(
        { ...result.counts, durationMs: result.durationMs, owner: wake.from },
        "helped with a token refresh run",
      );
    } catch (err) {
      // The owner takes over whatever this replica claimed once the claims lapse.
      logger.error({ err }, "token refresh run on this replica failed");
    }
  }

  /** Runs the tick's refresh to completion (see the class comment) and finishes its job run. */
  async runTick(jobRunId: string, logger: Logger = this.options.logger): Promise<TickRunSummary> {
    const { engine, pool } = this.options;
    const started = performance.now();
    const attemptedBefore = await databaseNow(pool);
    this.wakeups?.wake(jobRunId, attemptedBefore);
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
    add((await engine.runBatch({ jobRunId, attemptedBefore, logger })).counts);

    // Wait for the other replicas' claims (renewed while they live); take over the claims of a
    // replica that died once they lapse. Done when nothing is claimed anywhere and a last pass
    // found nothing left to claim.
    const deadline = Date.now() + engine.settings.leaseMs * 3 + engine.settings.timeoutMs;
    let complete = true;
    for (;;) {
      if (engine.stopping) break;
      const active = await activeClaims(pool);
      if (active.count === 0) {
        const last = await engine.runBatch({ jobRunId, attemptedBefore, logger });
        add(last.counts);
        if (last.claimed === 0) break;
        continue;
      }
      if (Date.now() > deadline) {
        complete = false;
        break;
      }
      const untilLapse = active.firstExpiry ? active.firstExpiry.getTime() - Date.now() + 50 : 0;
      await sleep(Math.max(50, Math.min(this.options.pollIntervalMs ?? 500, untilLapse)));
      add((await engine.runBatch({ jobRunId, attemptedBefore, logger })).counts);
    }
    if (engine.stopping) {
      // Hand the tick to another replica now rather than leaving it half done.
      throw new RetryLaterError("replica stopping during a token refresh run", 0);
    }

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

  async stop(): Promise<void> {
    await this.wakeups?.stop();
    this.wakeups = undefined;
  }
}
