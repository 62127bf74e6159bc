import type { NatsConnection } from "@nats-io/transport-node";
import type { Naming } from "@syncwell/bus";
import { finishJobRun, type Queryable } from "@syncwell/db";
import type { Logger } from "pino";
import { type ActiveClaims, SharedTickRuns } from "./shared-tick-runs.ts";

/** What a run adds up: its job run's counts and its summary's. */
export type RunCounts = Record<string, number>;

/** One replica's share of a run. */
export type RunShare = {
  jobRunId: string;
  /** When the run started (database time): what any replica attempted since is not attempted again. */
  startedAt: Date;
  logger: Logger;
  /** The tick run's deadline (the owner's handler signal; absent on replicas that joined). */
  signal?: AbortSignal | undefined;
};

/** What a share did: its counts and how many rows it claimed (0: nothing was claimable). */
export type ShareResult<Counts extends RunCounts> = { counts: Partial<Counts>; claimed: number };

/** How a run ends once no claim is left (or the owner gave up waiting). */
export type RunConclusion<Extra extends object> = {
  status: "succeeded" | "partial";
  /** Why the run is partial, stored on the job run. */
  error: string | null;
  /** Merged into the summary, over the totals (a count may be corrected here). */
  summary: Extra;
  /** Logged with the summary only. */
  logFields?: object;
};

export type TickRunCoordinatorOptions<Counts extends RunCounts, Extra extends object> = {
  pool: Queryable;
  nc: NatsConnection;
  naming: Naming;
  logger: Logger;
  /** What logs call one run, e.g. `poll run`. */
  runName: string;
  /** Relative core NATS subject (in no stream) on which the owner wakes the other replicas. */
  wakeSubject: string;
  /** The service's engine; a replica that is stopping joins nothing and hands the tick back. */
  engine: { readonly replicaId: string; readonly stopping: boolean };
  emptyCounts: () => Counts;
  /** Where a tick's run starts; a redelivered tick may continue the run it started before. */
  startedAt: (jobRunId: string) => Promise<Date>;
  /** Runs this replica's share: claims what is due and was not attempted since `startedAt`. */
  runShare: (share: RunShare) => Promise<ShareResult<Counts>>;
  /** Claims any replica holds now. */
  activeClaims: () => Promise<ActiveClaims>;
  /** The owner gives up waiting for other replicas' claims after this long: the run is partial. */
  maxWaitMs: number;
  /**
   * Claims can also end by release (a stopping replica hands back its queued rows), and then nobody
   * holds them: once no claim is left, run one more share and finish only when it claimed nothing.
   */
  finalPass?: boolean;
  /** Longest wait between two looks at the claims (default 500 ms). */
  pollIntervalMs?: number | undefined;
  /** Fields of the "run started" log line. */
  startFields?: () => object;
  /** Records what the run left aside on the job run, and decides its status. */
  conclude: (run: { jobRunId: string; totals: Counts; complete: boolean }) => Promise<RunConclusion<Extra>>;
};

export type TickRunSummary<Counts extends RunCounts, Extra extends object> = Counts &
  Extra & { jobRunId: string; durationMs: number; status: "succeeded" | "partial" };

function addCounts<Counts extends RunCounts>(into: Counts, from: Partial<Counts>): void {
  for (const [key, value] of Object.entries(from)) {
    if (value) (into as RunCounts)[key] = ((into as RunCounts)[key] ?? 0) + value;
  }
}

/**
 * One tick across all replicas, for a service whose work is rows claimed with a lease (the
 * protocol is SharedTickRuns'): the owner wakes the other replicas, every replica runs its share,
 * and the owner waits for the claims others hold, takes over those that lapse, and finishes the job
 * run with the counts every replica added. `tickRunConsumer` calls `runTick`.
 */
export class TickRunCoordinator<Counts extends RunCounts, Extra extends object = object> {
  private readonly options: TickRunCoordinatorOptions<Counts, Extra>;
  private readonly runs: SharedTickRuns;

  constructor(options: TickRunCoordinatorOptions<Counts, Extra>) {
    this.options = options;
    this.runs = new SharedTickRuns({
      ...options,
      join: async (wake, logger) => {
        const started = performance.now();
        const share = await options.runShare({ jobRunId: wake.jobRunId, startedAt: wake.startedAt, logger });
        return { ...share.counts, durationMs: Math.round(performance.now() - started) };
      },
    });
  }

  /** Listens for other replicas' wake-ups. */
  start(): void {
    this.runs.start();
  }

  /** Runs the tick to completion on all replicas and finishes its job run. */
  async runTick(
    jobRunId: string,
    logger: Logger = this.options.logger,
    signal?: AbortSignal,
  ): Promise<TickRunSummary<Counts, Extra>> {
    const { runName } = this.options;
    const started = performance.now();
    const startedAt = await this.options.startedAt(jobRunId);
    this.runs.wake(jobRunId, startedAt);
    logger.info({ jobRunId, ...this.options.startFields?.() }, `${runName} started`);

    const totals = this.options.emptyCounts();
    const share = async () => {
      const result = await this.options.runShare({ jobRunId, startedAt, logger, signal });
      addCounts(totals, result.counts);
      return result;
    };
    await share();
    // Done when nothing is claimed anywhere (and, with finalPass, a last share claimed nothing).
    const complete = await this.runs.waitForPeerClaims({
      activeClaims: this.options.activeClaims,
      runAgain: async () => {
        await share();
      },
      ...(this.options.finalPass && { finalPass: async () => (await share()).claimed === 0 }),
      maxWaitMs: this.options.maxWaitMs,
      pollIntervalMs: this.options.pollIntervalMs,
      signal,
    });

    const conclusion = await this.options.conclude({ jobRunId, totals, complete });
    await finishJobRun(this.options.pool, jobRunId, { status: conclusion.status, error: conclusion.error });
    const summary = {
      jobRunId,
      ...totals,
      ...conclusion.summary,
      durationMs: Math.round(performance.now() - started),
      status: conclusion.status,
    } as TickRunSummary<Counts, Extra>;
    const logged: object = { ...summary, ...conclusion.logFields };
    logger.info(logged, `${runName} finished`);
    return summary;
  }

  /** Stops listening and waits for the runs this replica joined. */
  stop(): Promise<void> {
    return this.runs.stop();
  }
}
