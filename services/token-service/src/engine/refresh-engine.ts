import type { TokenCipher } from "@syncwell/credentials";
import { Semaphore, sleep } from "@syncwell/runtime";
import type { Logger } from "@syncwell/telemetry";
import type pg from "pg";
import type { ProviderId } from "../config.ts";
import type { ProviderRuntime } from "../domain/providers.ts";
import { AnswerJournal } from "./answer-journal.ts";
import { ClaimLeases } from "./claim-leases.ts";
import { ClaimOutcomes } from "./claim-outcomes.ts";
import { JournalReplay } from "./journal-replay.ts";
import { type RefreshMetrics, refreshMetrics } from "./metrics.ts";
import { OnDemandRefresh } from "./on-demand-refresh.ts";
import { OperatorHolds } from "./operator-holds.ts";
import { OutcomeWriter, type WriteOutcome } from "./outcome-writer.ts";
import { type LaneParts, ProviderLane } from "./provider-lane.ts";
import { ProviderPauses } from "./provider-pauses.ts";
import type { ProviderRateLimiter } from "./rate-limiter.ts";
import type { RotationJournal } from "./rotation-journal.ts";
import { logRunProgress, newRunState, type RunCounts, settleRun } from "./run-state.ts";
import { RefreshSender } from "./send-refresh.ts";

export type { RunCounts } from "./run-state.ts";

export type RefreshSettings = {
  /** Refresh tokens expiring within this window (REFRESH_LEAD_TIME). */
  leadMs: number;
  /** Exercise refresh tokens unused for this long (REFRESH_IDLE_MAX). */
  idleMaxMs: number;
  /** How long a claim keeps other workers off a connection (REFRESH_CLAIM_LEASE). */
  leaseMs: number;
  /** Most rows claimed per round trip (REFRESH_BATCH_SIZE). */
  batchSize: number;
  /** Time to connect and send one token request (REFRESH_TIMEOUT). */
  sendTimeoutMs: number;
  /** Time to wait for the answer once a request is out (REFRESH_ANSWER_TIMEOUT). */
  answerTimeoutMs: number;
};

export type RefreshEngineOptions = {
  pool: pg.Pool;
  cipher: TokenCipher;
  providers: ReadonlyMap<ProviderId, ProviderRuntime>;
  limiter: ProviderRateLimiter;
  logger: Logger;
  /** Written to `refresh_claimed_by`: unique per process. */
  replicaId: string;
  settings: RefreshSettings;
  metrics?: RefreshMetrics;
  holds?: OperatorHolds;
  /**
   * Where rotated refresh tokens are recorded before anything else happens to them. Without it an
   * answer lives only in this process until Postgres has it.
   */
  journal?: RotationJournal;
  /** Progress log interval during a run. */
  progressIntervalMs?: number;
  /** Writer tuning (tests). */
  writer?: { maxBatch?: number; lingerMs?: number };
  random?: () => number;
};

export type RunOptions = {
  /** The tick's job run; its counts are added in the same transactions as the outcomes. */
  jobRunId?: string | undefined;
  /** Rows attempted at or after this (database) instant are not attempted again in this run. */
  attemptedBefore: Date;
  logger?: Logger;
  /** The tick run's deadline: lanes stop claiming when it is aborted (requests out are awaited). */
  signal?: AbortSignal | undefined;
};

export type RunResult = {
  counts: RunCounts;
  /** Rows claimed by this run, requeued ones included (0: nothing was claimable). */
  claimed: number;
  durationMs: number;
  interrupted: boolean;
};

/** How long a stop waits for Postgres when every rotated answer is already in the journal. */
const STOP_WRITE_GRACE_MS = 3_000;

/**
 * Refreshes due connections: one lane per enabled provider (ProviderLane), each claiming only as
 * many rows as it has free request slots (so no claim waits long for its turn while its lease
 * runs), taking requests from the provider's shared rate limit, sending each (RefreshSender) and
 * handing every outcome to the group-commit writer (ClaimOutcomes, OutcomeWriter). The row lock is
 * not held during the HTTP call: the claim lease keeps other workers off the connection, and the
 * writer re-reads the row under its lock before writing (see OutcomeBatch), so a transaction never
 * stays open while a provider takes its time to answer.
 */
export class RefreshEngine {
  readonly replicaId: string;
  readonly holds: OperatorHolds;
  readonly settings: RefreshSettings;
  private readonly options: RefreshEngineOptions;
  private readonly writer: OutcomeWriter;
  /** Each provider's token requests out at once (its concurrency), shared by lanes and refreshOne. */
  private readonly requestSlots = new Map<ProviderId, Semaphore>();
  private readonly stopController = new AbortController();
  private readonly runsInProgress = new Set<Promise<unknown>>();
  private readonly leases: ClaimLeases;
  private readonly answers: AnswerJournal | undefined;
  private readonly sender: RefreshSender;
  private readonly replay: JournalReplay;
  private readonly onDemand: OnDemandRefresh;
  private readonly laneParts: LaneParts;

  constructor(options: RefreshEngineOptions) {
    this.options = options;
    this.replicaId = options.replicaId;
    this.settings = options.settings;
    const { pool, logger, settings, limiter, providers } = options;
    const stopSignal = this.stopController.signal;
    const holds = options.holds ?? new OperatorHolds();
    this.holds = holds;
    const metrics = options.metrics ?? refreshMetrics();
    const answers = options.journal ? new AnswerJournal(options.journal, metrics, logger) : undefined;
    this.answers = answers;
    this.writer = new OutcomeWriter({
      pool,
      cipher: options.cipher,
      claimedBy: options.replicaId,
      logger,
      metrics,
      ...(answers ? { removeJournalEntry: (seq: number) => answers.stored(seq) } : {}),
      ...(options.random ? { random: options.random } : {}),
      ...options.writer,
    });
    for (const provider of providers.values()) {
      this.requestSlots.set(provider.id, new Semaphore(provider.concurrency));
      metrics.providerHeld.set({ provider: provider.id }, 0);
    }
    const leases = new ClaimLeases({ pool, claimedBy: this.replicaId, leaseMs: settings.leaseMs, logger });
    this.leases = leases;
    const outcomes = new ClaimOutcomes(this.writer, leases);
    const pauses = new ProviderPauses(limiter, logger);
    const sender = new RefreshSender({
      cipher: options.cipher,
      logger,
      metrics,
      replicaId: this.replicaId,
      timeouts: settings,
      leases,
      holds,
      pauses,
      outcomes,
      answers,
      stopSignal,
    });
    this.sender = sender;
    const replay = new JournalReplay({ answers, providers, outcomes, metrics, logger, stopSignal });
    this.replay = replay;
    const shared = { pool, replicaId: this.replicaId, limiter, holds, leases, outcomes, replay, sender };
    this.laneParts = { ...shared, settings, pauses };
    this.onDemand = new OnDemandRefresh({
      ...shared,
      leaseMs: settings.leaseMs,
      providers,
      requestSlots: this.requestSlots,
      stopSignal,
    });
  }

  /** Claims held by this replica right now (claimed, queued, in flight or being written). */
  get heldClaims(): number {
    return this.leases.size;
  }

  get stopping(): boolean {
    return this.stopController.signal.aborted;
  }

  /** Providers whose connections are refreshed now (enabled and not held). */
  activeProviders(): ProviderRuntime[] {
    return [...this.options.providers.values()].filter((p) => p.enabled && !this.holds.isHeld(p));
  }

  /** Providers whose due connections are skipped: disabled, or held after an operator error. */
  inactiveProviders(): ProviderRuntime[] {
    return [...this.options.providers.values()].filter((p) => !p.enabled || this.holds.isHeld(p));
  }

  /** Refreshes everything due that this replica can claim; returns when nothing claimable is left. */
  async runBatch(options: RunOptions): Promise<RunResult> {
    const run = this.runLanes(options);
    this.runsInProgress.add(run);
    try {
      return await run;
    } finally {
      this.runsInProgress.delete(run);
    }
  }

  /** One lane per active provider, until every lane is done and every outcome written. */
  private async runLanes(options: RunOptions): Promise<RunResult> {
    const started = performance.now();
    const stop = this.stopController.signal;
    const signal = options.signal ? AbortSignal.any([stop, options.signal]) : stop;
    const run = newRunState(options.jobRunId, options.attemptedBefore, signal);
    const progress = logRunProgress(
      run,
      options.logger ?? this.options.logger,
      this.options.progressIntervalMs ?? 5_000,
      () => ({ inFlight: this.tokenRequestsOut(), pendingWrites: this.writer.pending }),
    );
    let laneError: unknown;
    try {
      const lanes = await Promise.allSettled(
        this.activeProviders().map((provider) => {
          const slots = this.requestSlots.get(provider.id) as Semaphore;
          return new ProviderLane(this.laneParts, run, provider, slots).drive();
        }),
      );
      laneError = lanes.find((lane) => lane.status === "rejected")?.reason;
      // Requests already out are awaited and written even when a lane failed (Postgres went away):
      // their answers may carry the only copy of a rotated refresh token.
      await settleRun(run);
    } finally {
      clearInterval(progress);
    }
    if (laneError !== undefined) throw laneError;
    return {
      counts: run.counts,
      claimed: run.claimed,
      durationMs: Math.round(performance.now() - started),
      interrupted: this.stopping,
    };
  }

  /**
   * Refreshes one connection now (a `token.refresh-requested`), unless another worker has it, it
   * was refreshed within `minIntervalMs`, or its provider is disabled or held (see OnDemandRefresh).
   */
  refreshOne(connectionId: string, minIntervalMs = 30_000): Promise<WriteOutcome | "not_claimed"> {
    return this.onDemand.refresh(connectionId, minIntervalMs);
  }

  /**
   * Stores every answer left in the journal (by a replica that died or stopped while Postgres was
   * away). Each is applied only to a row still holding the token its request presented.
   */
  replayJournal(): Promise<number> {
    return this.replay.replayAll();
  }

  /**
   * Stops claiming; requests in flight are awaited (each is bounded by REFRESH_ANSWER_TIMEOUT) and
   * their outcomes written, until `deadline` (epoch ms). Postgres is waited for only while some
   * rotated answer is not in the journal either: a journaled one is stored by the next replica.
   */
  async stop(deadline = Number.POSITIVE_INFINITY): Promise<void> {
    this.stopController.abort(new Error("refresh engine stopping"));
    while (this.tokenRequestsOut() + this.sender.answersBeingJournaled > 0 && Date.now() < deadline) {
      await sleep(50);
    }
    const unjournaled = this.answers?.unjournaled ?? 0;
    const writeBy = unjournaled > 0 ? deadline : Math.min(deadline, Date.now() + STOP_WRITE_GRACE_MS);
    // Runs end once their lanes have handed back what they claimed and their outcomes are written.
    const runsDone = Promise.allSettled([...this.runsInProgress]);
    await (Number.isFinite(writeBy)
      ? Promise.race([runsDone, sleep(Math.max(0, writeBy - Date.now()))])
      : runsDone);
    const drained = await this.writer.drain(writeBy);
    this.leases.stop();
    if (!drained) {
      this.options.logger.warn(
        { unwritten: this.writer.pending, notJournaled: this.answers?.unjournaled ?? 0 },
        "stopped with refresh outcomes unwritten (Postgres unreachable); rotated tokens among them are in the journal",
      );
    }
  }

  /** Token requests out on this replica, every provider together. */
  private tokenRequestsOut(): number {
    return [...this.requestSlots.values()].reduce((n, slots) => n + slots.inUse, 0);
  }
}
