import { headers, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { context } from "@opentelemetry/api";
import { extractTraceContext, injectTraceContext, type Naming, RetryLaterError } from "@syncwell/bus";
import { finishJobRun, recordJobRunCounts } from "@syncwell/db";
import { sleep } from "@syncwell/runtime";
import type { Logger } from "@syncwell/telemetry";
import type pg from "pg";
import { z } from "zod";
import { activeClaims, countWaitingForToken } from "./claims.repository.ts";
import type { PollEngine, RunSummary } from "./poll-engine.ts";
import { addCounts, emptyCounts } from "./settings.ts";

/** Core NATS subject (in no stream) on which a tick's owner wakes the other replicas. */
export const WAKE_SUBJECT = "poller.run.wake";

const wakeMessage = z.object({
  jobRunId: z.uuid(),
  startedAt: z.iso.datetime({ offset: true }),
  from: z.string().min(1),
});

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
  private subscription: Subscription | undefined;
  private readonly peerRuns = new Map<string, Promise<void>>();

  constructor(options: PollRunCoordinatorOptions) {
    this.options = options;
  }

  private get subject(): string {
    return this.options.naming.subject(WAKE_SUBJECT);
  }

  start(): void {
    if (this.subscription) return;
    this.subscription = this.options.nc.subscribe(this.subject, {
      callback: (err, msg) => {
        if (err) {
          this.options.logger.warn({ err }, "poll wake-up subscription error");
          return;
        }
        let wake: z.output<typeof wakeMessage>;
        try {
          wake = wakeMessage.parse(msg.json());
        } catch {
          this.options.logger.warn({ subject: msg.subject }, "ignored an unreadable poll wake-up");
          return;
        }
        const { engine } = this.options;
        if (wake.from === engine.replicaId || engine.stopping || this.peerRuns.has(wake.jobRunId)) return;
        const run = context.with(extractTraceContext(msg.headers), () => this.joinRun(wake));
        this.peerRuns.set(wake.jobRunId, run);
        void run.finally(() => this.peerRuns.delete(wake.jobRunId));
      },
    });
  }

  private async joinRun(wake: z.output<typeof wakeMessage>): Promise<void> {
    const logger = this.options.logger.child({ jobRunId: wake.jobRunId });
    try {
      const summary = await this.options.engine.run({
        jobRunId: wake.jobRunId,
        startedAt: new Date(wake.startedAt),
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
    this.wakePeers(jobRunId, startedAt, logger);
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

  private wakePeers(jobRunId: string, startedAt: Date, logger: Logger): void {
    try {
      const h = headers();
      injectTraceContext(h);
      this.options.nc.publish(
        this.subject,
        JSON.stringify({ jobRunId, startedAt: startedAt.toISOString(), from: this.options.engine.replicaId }),
        { headers: h },
      );
    } catch (err) {
      logger.warn({ err }, "could not wake the other replicas; this replica polls alone");
    }
  }

  async stop(): Promise<void> {
    this.subscription?.unsubscribe();
    this.subscription = undefined;
    await Promise.allSettled([...this.peerRuns.values()]);
  }
}
