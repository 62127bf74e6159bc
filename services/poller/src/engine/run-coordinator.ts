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
import { activeClaims, countWaitingForToken } from "./claims.repository.ts";
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
 * One `tick.poll` across all replicas. The durable consumer hands the tick to one replica (the
 * owner); it wakes the others over core NATS, and every replica runs the same lanes, splitting the
 * due sync states through `FOR UPDATE SKIP LOCKED`. A lost wake-up costs only speed. The owner then
 * waits for the claims other replicas still hold (taking over those whose lease lapses: a dead
 * replica), and finishes the job run.
 */
export class PollRunCoordinator {
  private readonly options: PollRunCoordinatorOptions;
  private wakeups: ReplicaWakeups | undefined;

  constructor(options: PollRunCoordinatorOptions) {
    this.options = options;
  }

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
      const summary = await this.options.engine.run({
        jobRunId: wake.jobRunId,
        startedAt: wake.startedAt,
      });
      logger.info({ ...summary, owner: wake.from }, "helped with a poll run");
    } catch (err) {
      logger.error({ err }, "poll run on this replica failed; its claims lapse to the others");
    }
  }

  /** Runs a tick's polls to completion (see the class comment) and finishes its job run. */
  async runTick(jobRunId: string, logger: Logger = this.options.logger): Promise<TickSummary> {
    const { engine, pool } = this.options;
    const started = performance.now();
    const { rows } = await pool.query<{ now: Date }>("SELECT now() AS now");
    const startedAt = rows[0]?.now ?? new Date();
    this.wakeups?.wake(jobRunId, startedAt);
    logger.info(
      { jobRunId, platforms: [...new Set(engine.resources.map((r) => r.platform))] },
      "poll run started",
    );

    const totals = emptyCounts();
    addCounts(totals, await engine.run({ jobRunId, startedAt }));

    // Wait for the other replicas' claims; take over the ones whose lease lapses (a dead replica).
    const deadline = Date.now() + engine.settings.leaseMs + engine.settings.requestTimeoutMs + 5_000;
    let complete = true;
    while (!engine.stopping) {
      const active = await activeClaims(pool);
      if (active.count === 0) break;
      if (Date.now() > deadline) {
        complete = false;
        break;
      }
      const untilLapse = active.firstExpiry ? active.firstExpiry.getTime() - Date.now() + 50 : 0;
      await sleep(Math.max(50, Math.min(500, untilLapse)));
      addCounts(totals, await engine.run({ jobRunId, startedAt }));
    }
    if (engine.stopping) throw new RetryLaterError("replica stopping during a poll run", 0);

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

  async stop(): Promise<void> {
    await this.wakeups?.stop();
    this.wakeups = undefined;
  }
}
