import type { TokenCipher } from "@syncwell/credentials";
import { databaseNow, recordJobRunCounts } from "@syncwell/db";
import type { RateLimiter } from "@syncwell/rate-limit";
import { type Backoff, backoffDelayMs, Condition, Semaphore, sleep } from "@syncwell/runtime";
import { type Logger, type RepeatedFailureLog, repeatedFailureLog } from "@syncwell/telemetry";
import type pg from "pg";
import {
  bucketKeyOf,
  type ClaimedSyncState,
  claimDue,
  ensureSyncStates,
  nextDueAt,
  type ResourceSpec,
} from "../repositories/poll-claims.repository.ts";
import { resumeGrantedResources } from "../repositories/sync-state.repository.ts";
import type { PollerMetrics } from "./metrics.ts";
import { PageWriter } from "./page-writer.ts";
import { type PollResult, type RunnerDeps, runPoll } from "./poll-runner.ts";
import {
  addCounts,
  emptyCounts,
  type PlatformRuntime,
  type PollCounts,
  type PollSettings,
} from "./settings.ts";

export type PollEngineOptions = {
  pool: pg.Pool;
  /**
   * Connections for the page statements alone (`PAGE_WRITES_IN_FLIGHT` of them), with generic plans
   * (see page-writer.ts); the shared pool when absent.
   */
  pageWritePool?: pg.Pool;
  cipher: TokenCipher;
  limiter: RateLimiter;
  platforms: ReadonlyMap<string, PlatformRuntime>;
  settings: PollSettings;
  logger: Logger;
  metrics: PollerMetrics;
  /** This replica (claims are tagged `<replicaId>/<n>`). */
  replicaId: string;
  source?: string;
};

export type RunOptions = {
  /** Job run the counts go to (a tick's run). */
  jobRunId?: string;
  /** Only this connection (token.refreshed). */
  connectionId?: string;
  /** Only the platforms of this provider (the connection's, for token.refreshed). */
  provider?: string;
  /**
   * Database time the run started at: work due up to `startedAt + runHorizonMs` is done in this
   * run (a peer joining a tick passes the owner's). Default: now, from the database.
   */
  startedAt?: Date;
  /** Wait for work that becomes due within the horizon (default true; false for a connection's prompt poll). */
  linger?: boolean;
};

export type RunSummary = PollCounts & { durationMs: number };

/** A run as its lanes see it: the window of what is due, resolved once for all lanes. */
type LaneRun = RunOptions & { startedAt: Date; dueBy: Date; clockOffsetMs: number; linger: boolean };

/** How long a connection's 401 suppresses further refresh requests from this replica. */
const REFRESH_REQUEST_INTERVAL_MS = 30_000;
const REPORTED_ALWAYS = new Set([
  "connections",
  "polled",
  "records_added",
  "records_updated",
  "failed",
  "skipped",
]);
/** Delays between failed claim attempts of a lane (Postgres away): from 1 s up to 10 s, jittered. */
const CLAIM_BACKOFF: Backoff = {
  initialDelayMs: 1_000,
  maxDelayMs: 10_000,
  factor: 2,
};
/** How often a run adds its counts to the job run (a hot row: not once per poll). */
const COUNT_FLUSH_MS = 1_000;

/**
 * The poll engine of one replica: runs of lanes (one per platform) that claim due sync states in
 * batches and poll them, within a global and a per-platform concurrency. Replicas share nothing but
 * Postgres: claims split the work, the rate-limit buckets split the platforms' request budgets.
 */
export class PollEngine {
  readonly replicaId: string;
  readonly settings: PollSettings;
  private readonly options: PollEngineOptions;
  private readonly deps: RunnerDeps;
  private readonly globalSlots: Semaphore;
  private readonly slotsByPlatform = new Map<string, Semaphore>();
  private readonly stopController = new AbortController();
  private readonly runsInProgress = new Set<Promise<unknown>>();
  private readonly refreshRequests = new Map<string, number>();
  /**
   * One log per operation for all lanes: while Postgres is away every lane fails at once, and a
   * line per lane (per platform) would bury the rest. Each line names the platform it came from.
   */
  private readonly failures: Record<"claim" | "create" | "resume" | "nextDue", RepeatedFailureLog>;
  /** Notified whenever slots are given back: lanes waiting for capacity look again. */
  private readonly slotsReleased = new Condition();
  private readonly whenStopped: Promise<void>;
  private claimTokensIssued = 0;
  private bucketsConfigured: Promise<void> | undefined;

  constructor(options: PollEngineOptions) {
    this.options = options;
    this.replicaId = options.replicaId;
    // A poll starts only if its token outlives a request comfortably: a poll that had to stop for
    // the token (it checks before every request) must not be claimed again at once.
    this.settings = {
      ...options.settings,
      minTokenValidityMs: Math.max(
        options.settings.minTokenValidityMs,
        options.settings.requestTimeoutMs + 2_000,
      ),
    };
    this.globalSlots = new Semaphore(options.settings.concurrency);
    const logger = options.logger;
    this.failures = {
      claim: repeatedFailureLog(logger, "claiming due sync states"),
      create: repeatedFailureLog(logger, "creating missing sync states", {
        next: "the lanes poll the sync states that exist; the next run creates the missing ones",
      }),
      resume: repeatedFailureLog(logger, "resuming resources granted again", {
        next: "the next run resumes them",
      }),
      nextDue: repeatedFailureLog(logger, "reading the next due time", { next: "the lane ends its run" }),
    };
    this.whenStopped = new Promise((resolve) =>
      this.stopController.signal.addEventListener("abort", () => resolve(), { once: true }),
    );
    for (const [platform, runtime] of options.platforms) {
      this.slotsByPlatform.set(platform, new Semaphore(runtime.concurrency));
    }
    this.deps = {
      pool: options.pool,
      cipher: options.cipher,
      limiter: options.limiter,
      platforms: options.platforms,
      settings: this.settings,
      logger: options.logger,
      metrics: options.metrics,
      source: options.source ?? "poller",
      shouldRequestRefresh: (connectionId) => this.shouldRequestRefresh(connectionId),
      pageWriter: new PageWriter(options.pageWritePool ?? options.pool, options.logger),
    };
  }

  get stopping(): boolean {
    return this.stopController.signal.aborted;
  }

  /** Every resource the connectors offer, with the provider and scopes it needs. */
  get resources(): ResourceSpec[] {
    return [...this.options.platforms.values()].flatMap(({ connector }) =>
      connector.resources.map((r) => ({
        provider: connector.provider,
        platform: connector.platform,
        resource: r.name,
        requiredScopes: r.requiredScopes ?? [],
      })),
    );
  }

  get resourceKeys(): string[] {
    return this.resources.map((r) => `${r.platform}.${r.resource}`);
  }

  /** Creates (or updates) each platform's shared rate-limit bucket; runs once. */
  configure(): Promise<void> {
    this.bucketsConfigured ??= this.options.limiter
      .configure(
        [...this.options.platforms].map(([platform, runtime]) => ({
          key: bucketKeyOf(platform),
          perSec: runtime.rateLimit.perSec,
          burst: runtime.rateLimit.burst,
        })),
      )
      .catch((err: unknown) => {
        this.bucketsConfigured = undefined;
        throw err;
      });
    return this.bucketsConfigured;
  }

  /**
   * One run: creates missing sync states, then polls everything due (and, lingering, what becomes
   * due within the horizon) until nothing is left, reporting counts to the job run if any.
   */
  async run(options: RunOptions = {}): Promise<RunSummary> {
    const task = this.runLanes(options);
    this.runsInProgress.add(task);
    try {
      return await task;
    } finally {
      this.runsInProgress.delete(task);
    }
  }

  private async runLanes(options: RunOptions): Promise<RunSummary> {
    const started = performance.now();
    await this.configure();
    const { pool } = this.options;
    const runCounts = new RunCounter(pool, options.jobRunId, this.options.logger);
    try {
      // Rounded up: a row made due just before this run, in the same millisecond, is due in it.
      const dbNow = await databaseNow(pool, "up");
      const startedAt = options.startedAt ?? dbNow;
      // The database clock decides what is due; this offset turns its times into local waits.
      const clockOffsetMs = dbNow.getTime() - Date.now();
      const linger = options.linger ?? true;
      const dueBy = new Date(startedAt.getTime() + (linger ? this.settings.runHorizonMs : 0));
      const platforms = [...this.options.platforms]
        .filter(
          ([, runtime]) => options.provider === undefined || runtime.connector.provider === options.provider,
        )
        .map(([platform]) => platform);
      // A connection's prompt poll takes what is due now; a tick's run lingers for its horizon.
      const lanesLinger = linger && options.connectionId === undefined;
      await Promise.all(
        platforms.map((platform) =>
          this.pollLane(
            platform,
            { ...options, startedAt, dueBy, clockOffsetMs, linger: lanesLinger },
            runCounts,
          ),
        ),
      );
    } finally {
      await runCounts.close();
    }
    return { ...runCounts.totals, durationMs: Math.round(performance.now() - started) };
  }

  /**
   * Claims and polls due rows of one platform until none is left: healthy rows before failing
   * ones. Slots (global and the platform's) are taken before claiming, so no claimed row waits for
   * a slot while its lease runs.
   */
  private async pollLane(platform: string, run: LaneRun, runCounts: RunCounter): Promise<void> {
    const signal = this.stopController.signal;
    const platformSlots = this.slotsByPlatform.get(platform) as Semaphore;
    const specs = this.resources.filter((r) => r.platform === platform);
    const resources = specs.map((r) => r.resource);
    await this.prepareLane(platform, specs, run);
    const pollsInFlight = new Set<Promise<void>>();
    const pollFinished = new Condition();
    // With polls running, wait for a few free slots before claiming again: one claim round trip
    // per batch rather than per finished poll.
    const batchThreshold = Math.max(
      1,
      Math.min(
        this.settings.batchSize,
        Math.floor(Math.min(this.globalSlots.capacity, platformSlots.capacity) / 4),
      ),
    );
    // While Postgres is away every attempt fails at once: wait longer each time, log once in a while.
    let failedClaimsInARow = 0;

    while (!signal.aborted) {
      const slotsWanted = pollsInFlight.size > 0 ? batchThreshold : 1;
      if (this.globalSlots.free < slotsWanted || platformSlots.free < slotsWanted) {
        await Promise.race([this.slotsReleased.wait(), pollFinished.wait(), this.whenStopped]);
        continue;
      }
      const slotsTaken = this.globalSlots.take(
        Math.min(this.settings.batchSize, this.globalSlots.free, platformSlots.free),
      );
      platformSlots.take(slotsTaken);
      let claimed: ClaimedSyncState[];
      try {
        claimed = await this.claimBatch(platform, resources, run, slotsTaken);
      } catch (err) {
        this.releaseSlots(slotsTaken, platformSlots);
        this.failures.claim.failed(err, { platform });
        await sleep(backoffDelayMs(CLAIM_BACKOFF, ++failedClaimsInARow), signal);
        continue;
      }
      failedClaimsInARow = 0;
      this.failures.claim.succeeded({ platform });
      this.releaseSlots(slotsTaken - claimed.length, platformSlots);
      for (const row of claimed) {
        const task = this.pollClaimed(row, platformSlots, run.jobRunId, runCounts).finally(() => {
          pollsInFlight.delete(task);
          pollFinished.notify();
        });
        pollsInFlight.add(task);
      }
      if (claimed.length === slotsTaken) continue;

      // Nothing more due right now.
      if (pollsInFlight.size > 0) {
        await Promise.race([pollFinished.wait(), this.whenStopped]);
        continue;
      }
      if (!run.linger) break;
      const nextDue = await nextDueAt(this.options.pool, {
        platform,
        resources,
        minValidityMs: this.settings.minTokenValidityMs,
        dueBy: run.dueBy,
      }).then(
        (at) => {
          this.failures.nextDue.succeeded({ platform });
          return at;
        },
        (err: unknown) => {
          this.failures.nextDue.failed(err, { platform });
          return null;
        },
      );
      if (nextDue === null || nextDue.getTime() > run.dueBy.getTime()) break;
      await sleep(Math.max(20, nextDue.getTime() - (Date.now() + run.clockOffsetMs) + 10), signal);
    }
    await Promise.allSettled(pollsInFlight);
  }

  /**
   * Each lane creates its platform's missing sync states itself: a lane whose platform has few
   * starts polling while the others are still being created (all of them at a first deployment).
   */
  private async prepareLane(platform: string, specs: ResourceSpec[], run: LaneRun): Promise<void> {
    try {
      const created = await ensureSyncStates(this.options.pool, specs, {
        dueAt: run.startedAt,
        ...(run.connectionId ? { connectionId: run.connectionId } : {}),
      });
      this.failures.create.succeeded({ platform });
      if (created > 0) {
        this.options.logger.info({ platform, created }, "created sync states for newly seen resources");
      }
    } catch (err) {
      this.failures.create.failed(err, { platform });
    }
    try {
      const resumed = await resumeGrantedResources(this.options.pool, specs, {
        ...(run.connectionId ? { connectionId: run.connectionId } : {}),
      });
      this.failures.resume.succeeded({ platform });
      if (resumed > 0) {
        this.options.logger.info({ platform, resumed }, "resumed resources whose scopes were granted again");
      }
    } catch (err) {
      this.failures.resume.failed(err, { platform });
    }
  }

  /** Claims up to `limit` due rows of one platform, healthy ones before failing ones. */
  private async claimBatch(
    platform: string,
    resources: string[],
    run: LaneRun,
    limit: number,
  ): Promise<ClaimedSyncState[]> {
    const claimPhase = (phase: "healthy" | "failing", n: number) =>
      claimDue(this.options.pool, {
        platform,
        resources,
        phase,
        limit: n,
        leaseMs: this.settings.leaseMs,
        claimToken: `${this.replicaId}/${++this.claimTokensIssued}`,
        minValidityMs: this.settings.minTokenValidityMs,
        dueBy: run.dueBy,
        ...(run.connectionId ? { connectionId: run.connectionId } : {}),
      });
    const rows = await claimPhase("healthy", limit);
    return rows.length < limit ? rows.concat(await claimPhase("failing", limit - rows.length)) : rows;
  }

  /** Polls one claimed row; its slots were taken by the lane and are given back here. */
  private async pollClaimed(
    row: ClaimedSyncState,
    platformSlots: Semaphore,
    jobRunId: string | undefined,
    runCounts: RunCounter,
  ): Promise<void> {
    const started = performance.now();
    this.options.metrics.inFlight.inc({ platform: row.platform });
    try {
      const result = await runPoll(this.deps, row, {
        signal: this.stopController.signal,
        ...(jobRunId ? { jobRunId } : {}),
      });
      this.observe(row, result, (performance.now() - started) / 1000);
      runCounts.add(row.connectionId, result);
    } catch (err) {
      // runPoll turns every error into an outcome; anything else is a bug worth a log line.
      this.options.logger.error({ err }, "poll task failed");
    } finally {
      this.options.metrics.inFlight.dec({ platform: row.platform });
      this.releaseSlots(1, platformSlots);
    }
  }

  private releaseSlots(n: number, platformSlots: Semaphore): void {
    if (n <= 0) return;
    this.globalSlots.release(n);
    platformSlots.release(n);
    this.slotsReleased.notify();
  }

  private observe(row: ClaimedSyncState, result: PollResult, seconds: number): void {
    const metrics = this.options.metrics;
    const platform = row.platform;
    const reason =
      result.outcome === "polled" ? "none" : result.outcome === "failed" ? result.kind : result.reason;
    metrics.polls.inc({ platform, outcome: result.outcome, reason });
    if (result.outcome === "polled") metrics.pollDuration.observe({ platform }, seconds);
    const stored = result.stored;
    if (stored.records_added) metrics.records.inc({ platform, outcome: "added" }, stored.records_added);
    if (stored.records_updated) metrics.records.inc({ platform, outcome: "updated" }, stored.records_updated);
    if (stored.records_unchanged)
      metrics.records.inc({ platform, outcome: "unchanged" }, stored.records_unchanged);
    if (stored.records_deleted) metrics.records.inc({ platform, outcome: "deleted" }, stored.records_deleted);
    if (stored.communication_events)
      metrics.communicationEvents.inc({ platform }, stored.communication_events);
  }

  private shouldRequestRefresh(connectionId: string): boolean {
    const now = Date.now();
    const last = this.refreshRequests.get(connectionId);
    if (last !== undefined && now - last < REFRESH_REQUEST_INTERVAL_MS) return false;
    this.refreshRequests.set(connectionId, now);
    if (this.refreshRequests.size > 10_000) {
      for (const [id, at] of this.refreshRequests)
        if (now - at >= REFRESH_REQUEST_INTERVAL_MS) this.refreshRequests.delete(id);
    }
    return true;
  }

  /** Stops claiming, aborts polls in flight (their claims are handed back) and waits for the runs to end. */
  async stop(): Promise<void> {
    this.stopController.abort(new Error("poller stopping"));
    await Promise.allSettled([...this.runsInProgress]);
  }
}

/**
 * A run's counts: totals for its summary, and increments added to the job run about once a second
 * (every poll writing the same job_runs row would serialise all of them on its lock).
 */
class RunCounter {
  readonly totals: PollCounts = emptyCounts();
  private unflushed: PollCounts = emptyCounts();
  private readonly connections = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private lastFlush: Promise<void> = Promise.resolve();
  private readonly pool: pg.Pool;
  private readonly jobRunId: string | undefined;
  private readonly flushFailures: RepeatedFailureLog;

  constructor(pool: pg.Pool, jobRunId: string | undefined, logger: Logger) {
    this.pool = pool;
    this.jobRunId = jobRunId;
    this.flushFailures = repeatedFailureLog(logger, "adding poll counts to the job run", {
      level: "warn",
      next: "they are added with the next flush",
    });
  }

  add(connectionId: string, result: PollResult): void {
    const delta: Partial<PollCounts> = { ...result.stored };
    if (!this.connections.has(connectionId)) {
      this.connections.add(connectionId);
      delta.connections = 1;
    }
    if (result.outcome === "polled") delta.polled = 1;
    else if (result.outcome === "failed") delta.failed = 1;
    else delta.skipped = 1;
    addCounts(this.totals, delta);
    addCounts(this.unflushed, delta);
    if (this.jobRunId && !this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, COUNT_FLUSH_MS);
      this.timer.unref();
    }
  }

  private flush(): Promise<void> {
    const jobRunId = this.jobRunId;
    if (!jobRunId) return Promise.resolve();
    this.lastFlush = this.lastFlush.then(async () => {
      // The six counts every poll run reports appear even when zero; the others only when they occurred.
      const counts = Object.fromEntries(
        Object.entries(this.unflushed).filter(([k, v]) => v !== 0 || REPORTED_ALWAYS.has(k)),
      );
      this.unflushed = emptyCounts();
      try {
        await recordJobRunCounts(this.pool, jobRunId, counts);
        this.flushFailures.succeeded({ jobRunId });
      } catch (err) {
        addCounts(this.unflushed, counts);
        this.flushFailures.failed(err, { jobRunId });
      }
    });
    return this.lastFlush;
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}
