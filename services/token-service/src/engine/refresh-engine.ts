import { type AnyEvent, createEvent } from "@syncwell/contracts";
import type { TokenCipher } from "@syncwell/credentials";
import { Semaphore, sleep } from "@syncwell/runtime";
import { type Logger, type RepeatedFailureLog, repeatedFailureLog } from "@syncwell/telemetry";
import type pg from "pg";
import {
  type RefreshResult,
  refreshAccessToken,
  type TokenEndpoint,
} from "../adapters/oauth-token.client.ts";
import type { ProviderId } from "../config.ts";
import type { ProviderRuntime } from "../domain/providers.ts";
import { classifyFailure, type RefreshFailure, ROTATION_LOST } from "../domain/refresh-outcome.ts";
import {
  type ClaimedConnection,
  type ClaimPhase,
  claimDue,
  claimOne,
  claimPhases,
  renewClaims,
} from "../repositories/refresh-claims.repository.ts";
import { AnswerJournal, claimOf, successOf } from "./answer-journal.ts";
import { type RefreshMetrics, refreshMetrics } from "./metrics.ts";
import { OperatorHolds } from "./operator-holds.ts";
import { EVENT_SOURCE, OutcomeWriter, type WriteItem, type WriteOutcome } from "./outcome-writer.ts";
import type { ProviderRateLimiter } from "./rate-limiter.ts";
import type { JournalEntry, RotationJournal } from "./rotation-journal.ts";

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

export type RunCounts = { checked: number; refreshed: number; failed: number; skipped: number };

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

/** A request must be able to finish this long before its claim lapses, or it is not started. */
const LEASE_MARGIN_MS = 2_000;
/** Pause after a 429 when the provider names no Retry-After; bound on any pause. */
const DEFAULT_429_PAUSE_MS = 1_000;
const MAX_PAUSE_MS = 5_000;
/** How long a stop waits for Postgres when every rotated answer is already in the journal. */
const STOP_WRITE_GRACE_MS = 3_000;
/** Outcomes waiting to be written before lanes stop claiming (memory bound). */
const MAX_PENDING_WRITES = 2_000;

type Run = {
  counts: RunCounts;
  /** Time spent in claim queries, in the rate limiter and in token requests (progress logs). */
  timing: { claims: number; claimMs: number; limiterMs: number; requests: number; requestMs: number };
  claimed: number;
  jobRunId: string | undefined;
  attemptedBefore: Date;
  writes: Set<Promise<unknown>>;
  /** Ends the run's claiming: the engine stopping, or the tick run's deadline. */
  signal: AbortSignal;
};

/**
 * Refreshes due connections: one lane per enabled provider, each claiming only as many rows as it
 * has free request slots (so no claim waits long for its turn while its lease runs), taking
 * requests from the provider's shared rate limit, and handing every outcome to the group-commit
 * writer. The row lock is not held during the HTTP call: the claim lease keeps other workers off
 * the connection, and the writer re-reads the row under its lock before writing (see
 * OutcomeWriter), so a transaction never stays open for a provider's 50 ms–10 s answer.
 */
export class RefreshEngine {
  readonly replicaId: string;
  readonly holds: OperatorHolds;
  readonly settings: RefreshSettings;
  private readonly options: RefreshEngineOptions;
  private readonly metrics: RefreshMetrics;
  private readonly writer: OutcomeWriter;
  private readonly slots = new Map<ProviderId, Semaphore>();
  private readonly pausedUntil = new Map<ProviderId, number>();
  private readonly stopController = new AbortController();
  private readonly runs = new Set<Promise<unknown>>();
  /** Connections this replica holds a claim on → when that claim lapses (local clock, ms). */
  private readonly held = new Map<string, number>();
  private readonly renewTimer: NodeJS.Timeout;
  private renewing = false;
  private readonly renewFailures: RepeatedFailureLog;
  private readonly answers: AnswerJournal | undefined;
  /** Answers being written to the journal right now. */
  private journaling = 0;

  constructor(options: RefreshEngineOptions) {
    this.options = options;
    this.replicaId = options.replicaId;
    this.settings = options.settings;
    this.holds = options.holds ?? new OperatorHolds();
    this.renewFailures = repeatedFailureLog(options.logger, "renewing refresh claims", {
      level: "warn",
      next: "they lapse unless renewed in time",
    });
    this.metrics = options.metrics ?? refreshMetrics();
    const answers = options.journal
      ? new AnswerJournal(options.journal, this.metrics, options.logger)
      : undefined;
    this.answers = answers;
    this.writer = new OutcomeWriter({
      pool: options.pool,
      cipher: options.cipher,
      claimedBy: options.replicaId,
      logger: options.logger,
      metrics: this.metrics,
      ...(answers ? { removeJournalEntry: (seq: number) => answers.stored(seq) } : {}),
      ...(options.random ? { random: options.random } : {}),
      ...options.writer,
    });
    for (const provider of options.providers.values()) {
      this.slots.set(provider.id, new Semaphore(provider.concurrency));
      this.metrics.providerHeld.set({ provider: provider.id }, 0);
    }
    this.renewTimer = setInterval(
      () => void this.renewClaims(),
      Math.max(500, Math.floor(this.settings.leaseMs / 3)),
    );
    this.renewTimer.unref();
  }

  /** Claims held by this replica right now (claimed, queued, in flight or being written). */
  get heldClaims(): number {
    return this.held.size;
  }

  private async renewClaims(): Promise<void> {
    if (this.renewing || this.held.size === 0) return;
    this.renewing = true;
    const started = Date.now();
    try {
      const renewed = await renewClaims(this.options.pool, {
        ids: [...this.held.keys()],
        claimedBy: this.replicaId,
        leaseMs: this.settings.leaseMs,
      });
      for (const id of renewed) if (this.held.has(id)) this.held.set(id, started + this.settings.leaseMs);
      this.renewFailures.succeeded();
    } catch (err) {
      this.renewFailures.failed(err, { claims: this.held.size });
    } finally {
      this.renewing = false;
    }
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
    const promise = this.doRun(options);
    this.runs.add(promise);
    try {
      return await promise;
    } finally {
      this.runs.delete(promise);
    }
  }

  private async doRun(options: RunOptions): Promise<RunResult> {
    const logger = options.logger ?? this.options.logger;
    const started = performance.now();
    const stop = this.stopController.signal;
    const signal = options.signal ? AbortSignal.any([stop, options.signal]) : stop;
    const run = newRun(options.jobRunId, options.attemptedBefore, signal);
    const progress = setInterval(() => {
      const seconds = (performance.now() - started) / 1000;
      logger.info(
        {
          jobRunId: run.jobRunId,
          ...run.counts,
          inFlight: [...this.slots.values()].reduce((n, s) => n + s.inUse, 0),
          perSecond: Math.round(run.counts.checked / Math.max(seconds, 0.001)),
          pendingWrites: this.writer.pending,
          claimMsAvg: round(run.timing.claimMs / Math.max(1, run.timing.claims)),
          limiterMsAvg: round(run.timing.limiterMs / Math.max(1, run.timing.claims)),
          requestMsAvg: round(run.timing.requestMs / Math.max(1, run.timing.requests)),
        },
        "token refresh in progress",
      );
    }, this.options.progressIntervalMs ?? 5_000);
    progress.unref();
    let laneError: unknown;
    try {
      const lanes = await Promise.allSettled(
        this.activeProviders().map((provider) => this.runLane(run, provider)),
      );
      laneError = lanes.find((lane) => lane.status === "rejected")?.reason;
      // Requests already out are awaited and written even when a lane failed (Postgres went away):
      // their answers may carry the only copy of a rotated refresh token.
      while (run.writes.size > 0) await Promise.allSettled([...run.writes]);
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
   * One provider's lane: a claimer keeps a short queue of claimed rows (at most `want`, refilled
   * when half empty, rate-limit tokens already taken) and a starter feeds them into the provider's
   * request slots as slots free up. Claiming ahead hides the claim and rate-limiter round trips
   * behind requests in flight; the queue is short enough that a queued row waits a fraction of a
   * second, far inside its lease (and a row whose lease got too short is released, not started).
   */
  private async runLane(run: Run, provider: ProviderRuntime): Promise<void> {
    const slots = this.slots.get(provider.id) as Semaphore;
    const signal = run.signal;
    const want = Math.max(
      1,
      Math.min(
        this.settings.batchSize,
        provider.concurrency,
        Math.max(1, Math.floor(provider.rateLimitPerSec)),
      ),
    );
    const refillAt = Math.floor(want / 2);
    const queue: Array<{ row: ClaimedConnection; deadline: number }> = [];
    let claiming = true;
    let rowsReady: (() => void) | undefined;
    let roomFreed: (() => void) | undefined;
    const notify = (which: "ready" | "room") => {
      const wake = which === "ready" ? rowsReady : roomFreed;
      if (which === "ready") rowsReady = undefined;
      else roomFreed = undefined;
      wake?.();
    };

    const starter = (async () => {
      for (;;) {
        if (queue.length === 0) {
          if (!claiming) return;
          await new Promise<void>((resolve) => {
            rowsReady = resolve;
          });
          continue;
        }
        try {
          await slots.acquire(signal);
        } catch {
          return; // stopping: queued rows are released below
        }
        const next = queue.shift();
        if (!next) {
          slots.release();
          continue;
        }
        if (queue.length <= refillAt) notify("room");
        this.track(
          run,
          this.refreshClaimed(run, provider, next.row, next.deadline, () => slots.release()),
        );
      }
    })();

    let phaseIndex = 0;
    let expiresFrom: Date | null = null;
    try {
      while (!signal.aborted && phaseIndex < claimPhases.length && !this.holds.isHeld(provider)) {
        const pause = (this.pausedUntil.get(provider.id) ?? 0) - Date.now();
        if (pause > 0) {
          await sleep(pause, signal);
          continue;
        }
        if (this.writer.pending > MAX_PENDING_WRITES) {
          await sleep(10, signal);
          continue;
        }
        if (queue.length > refillAt) {
          await new Promise<void>((resolve) => {
            roomFreed = resolve;
            signal.addEventListener("abort", () => resolve(), { once: true });
          });
          continue;
        }
        const phase = claimPhases[phaseIndex] as ClaimPhase;
        const claimStarted = Date.now();
        const claimTimer = performance.now();
        const claimed = await claimDue(this.options.pool, {
          provider: provider.id,
          phase,
          limit: Math.max(1, want - queue.length),
          leadMs: this.settings.leadMs,
          idleMaxMs: this.settings.idleMaxMs,
          leaseMs: this.settings.leaseMs,
          claimedBy: this.replicaId,
          attemptedBefore: run.attemptedBefore,
          expiresFrom,
        });
        run.timing.claims += 1;
        run.timing.claimMs += performance.now() - claimTimer;
        run.claimed += claimed.length;
        if (claimed.length === 0) {
          phaseIndex += 1;
          continue;
        }
        if (phase === "expiring") {
          for (const row of claimed) {
            const at = row.accessTokenExpiresAt;
            if (at && (expiresFrom === null || at > expiresFrom)) expiresFrom = at;
          }
        }
        const deadline = claimStarted + this.settings.leaseMs;
        for (const row of claimed) this.held.set(row.id, deadline);
        const toRefresh = await this.applyJournaled(run, provider, claimed);
        if (toRefresh.length === 0) continue;
        const limiterTimer = performance.now();
        let granted: number;
        try {
          granted = await this.options.limiter.take(provider.id, toRefresh.length, signal);
        } catch (err) {
          // The limiter's store failed: hand the rows back rather than hold them until restart.
          for (const row of toRefresh) {
            this.track(
              run,
              this.submit(run, provider, row, { kind: "release", reason: "limiter_error", requeue: true }),
            );
          }
          throw err;
        }
        run.timing.limiterMs += performance.now() - limiterTimer;
        toRefresh.forEach((row, i) => {
          if (i < granted) queue.push({ row, deadline });
          else
            this.track(
              run,
              this.submit(run, provider, row, { kind: "release", reason: "stopping", requeue: true }),
            );
        });
        notify("ready");
      }
    } finally {
      claiming = false;
      notify("ready");
      await starter;
      for (const { row } of queue.splice(0)) {
        this.track(
          run,
          this.submit(run, provider, row, { kind: "release", reason: "stopping", requeue: true }),
        );
      }
    }
  }

  private track(run: Run, work: Promise<unknown>): void {
    run.writes.add(work);
    void work.finally(() => run.writes.delete(work));
  }

  private submit(
    run: Run | undefined,
    provider: ProviderRuntime,
    claim: ClaimedConnection,
    item: DistributiveOmit<WriteItem, "claim" | "provider" | "jobRunId">,
  ): Promise<boolean> {
    return this.writer
      .submit({ ...item, claim, provider, jobRunId: run?.jobRunId } as WriteItem)
      .then((outcome) => {
        if (run && outcome !== "released" && outcome !== "deferred") {
          run.counts.checked += 1;
          run.counts[outcome] += 1;
        }
        return true;
      })
      .catch(() => {
        // Logged by the writer; the claim lapses and a later run retries the connection.
        return false;
      })
      .finally(() => {
        this.held.delete(claim.id);
      });
  }

  /** Why a claimed connection is handed back instead of refreshed now, if it is. */
  private skipReason(
    provider: ProviderRuntime,
    row: ClaimedConnection,
    deadline: number,
  ): string | undefined {
    if (this.stopping) return "stopping";
    if (this.holds.isHeld(provider)) return "provider_held";
    const leaseEnds = this.held.get(row.id) ?? deadline;
    if (Date.now() + this.settings.sendTimeoutMs + LEASE_MARGIN_MS > leaseEnds) return "lease_too_short";
    return undefined;
  }

  /**
   * One connection, claimed by us: request, classify, hand to the writer. `release` frees the slot
   * once the answer is in; a stop waits for the slots to empty and for answers being journaled.
   */
  private async refreshClaimed(
    run: Run | undefined,
    provider: ProviderRuntime,
    row: ClaimedConnection,
    deadline: number,
    release: () => void,
  ): Promise<boolean> {
    let released = false;
    const releaseSlot = () => {
      if (!released) {
        released = true;
        release();
      }
    };
    try {
      const skip = this.skipReason(provider, row, deadline);
      if (skip) {
        // Handed back uncounted: a later pass or run takes it (a held provider's due connections
        // are counted as skipped once per tick by the run's owner).
        releaseSlot();
        return await this.submit(run, provider, row, { kind: "release", reason: skip, requeue: true });
      }
      let refreshToken: string;
      try {
        refreshToken = this.options.cipher.decrypt(row.refreshTokenEncrypted);
      } catch (err) {
        // A key missing from TOKEN_ENCRYPTION_KEYS is the operator's problem, not the user's.
        this.options.logger.error(
          { connectionId: row.id, provider: provider.id, err },
          "cannot decrypt the refresh token (is its key still in TOKEN_ENCRYPTION_KEYS?); connection skipped",
        );
        releaseSlot();
        return await this.submit(run, provider, row, { kind: "release", reason: "undecryptable" });
      }
      const result = await this.requestToken(run, provider, refreshToken);
      const receivedAt = new Date();
      if (!result.ok) {
        releaseSlot();
        return await this.submitFailure(run, provider, row, refreshToken, result, receivedAt);
      }
      const success: SuccessItem = {
        kind: "success",
        usedRefreshToken: refreshToken,
        result,
        receivedAt,
        journalSeqs: [],
      };
      releaseSlot();
      this.journaling += 1;
      let stored: () => void;
      try {
        stored = await this.journalAnswer(run, row, success);
      } finally {
        this.journaling -= 1;
      }
      try {
        return await this.submit(run, provider, row, success);
      } finally {
        stored();
      }
    } finally {
      releaseSlot();
    }
  }

  /** The refresh_token grant at the provider, timed (metrics and the run's progress figures). */
  private async requestToken(
    run: Run | undefined,
    provider: ProviderRuntime,
    refreshToken: string,
  ): Promise<RefreshResult> {
    const endpoint: TokenEndpoint = {
      tokenUrl: provider.tokenUrl,
      clientId: provider.clientId ?? "",
      clientSecret: provider.clientSecret ?? "",
      clientAuth: provider.spec.clientAuth,
    };
    this.metrics.inFlight.inc({ provider: provider.id });
    const started = performance.now();
    try {
      return await refreshAccessToken(endpoint, refreshToken, {
        sendTimeoutMs: this.settings.sendTimeoutMs,
        answerTimeoutMs: this.settings.answerTimeoutMs,
      });
    } finally {
      const requestMs = performance.now() - started;
      this.metrics.requestDuration.observe({ provider: provider.id }, requestMs / 1000);
      this.metrics.inFlight.dec({ provider: provider.id });
      if (run) {
        run.timing.requests += 1;
        run.timing.requestMs += requestMs;
      }
    }
  }

  /** Classifies a failed refresh and hands it to the writer; operator errors and 429s act first. */
  private submitFailure(
    run: Run | undefined,
    provider: ProviderRuntime,
    row: ClaimedConnection,
    refreshToken: string,
    failure: RefreshFailure,
    receivedAt: Date,
  ): Promise<boolean> {
    if (row.previousAnswerLost) failure.afterLostAnswer = true;
    const classified = classifyFailure(failure);
    if (classified.errorCode === ROTATION_LOST) {
      this.metrics.rotationLost.inc({ provider: provider.id });
      this.options.logger.warn(
        { connectionId: row.id, provider: provider.id },
        "refresh token refused after an earlier answer never arrived: its rotated refresh token was lost (rotation_lost), not revoked by the user",
      );
    }
    if (classified.failureClass === "operator") {
      const alert = this.raiseOperatorAlert(provider, classified.errorCode, failure);
      return this.submit(run, provider, row, {
        kind: "operator",
        failure,
        errorCode: classified.errorCode,
        alert,
      });
    }
    if (failure.status === 429) this.pauseProvider(provider, failure.retryAfterMs);
    return this.submit(run, provider, row, {
      kind: "failure",
      usedRefreshToken: refreshToken,
      failure,
      receivedAt,
    });
  }

  /** Over the provider's limit for our client: every request now would fail too. */
  private pauseProvider(provider: ProviderRuntime, retryAfterMs: number | undefined): void {
    const pause = Math.min(MAX_PAUSE_MS, retryAfterMs ?? DEFAULT_429_PAUSE_MS);
    this.pausedUntil.set(provider.id, Math.max(this.pausedUntil.get(provider.id) ?? 0, Date.now() + pause));
    // The other replicas' lanes wait too (their takes from the shared bucket wait for the block).
    void this.options.limiter.block?.(provider.id, pause).catch((err: unknown) => {
      this.options.logger.warn(
        { provider: provider.id, err },
        "could not block the provider's rate limit bucket",
      );
    });
  }

  /** Holds the provider (once per configuration) and builds the operator alert for the outbox. */
  private raiseOperatorAlert(
    provider: ProviderRuntime,
    errorCode: string,
    failure: RefreshFailure,
  ): AnyEvent | undefined {
    if (!this.holds.hold(provider, errorCode)) return undefined;
    this.metrics.operatorAlerts.inc({ provider: provider.id, error_code: errorCode });
    this.metrics.providerHeld.set({ provider: provider.id }, 1);
    const variables = `PROVIDER_${provider.id.toUpperCase().replaceAll("-", "_")}_CLIENT_ID / _CLIENT_SECRET / _TOKEN_URL`;
    const message = `${provider.spec.displayName} rejected Syncwell's client configuration (${errorCode}). Check ${variables}. Refreshes to ${provider.spec.displayName} are held on this replica until the configuration changes (restart with corrected settings); users are not disconnected.`;
    this.options.logger.error(
      {
        provider: provider.id,
        errorCode,
        httpStatus: failure.status,
        errorDescription: failure.errorDescription,
        tokenUrl: provider.tokenUrl,
        replica: this.replicaId,
      },
      "operator alert: provider rejected the client configuration; refreshes held",
    );
    return createEvent(
      "operator.alert",
      {
        severity: "critical",
        code: "provider_misconfigured",
        provider: provider.id,
        message,
        details: {
          errorCode,
          httpStatus: failure.status ?? null,
          tokenUrl: provider.tokenUrl,
          replica: this.replicaId,
          heldSince: new Date().toISOString(),
        },
      },
      { source: EVENT_SOURCE },
    );
  }

  /**
   * Refreshes one connection now (a `token.refresh-requested`), unless another worker has it, it
   * was refreshed within `minIntervalMs`, or its provider is disabled or held. Whatever fails on the
   * way (the rate limiter's store, the journal), the slot and the claim are given back.
   */
  async refreshOne(connectionId: string, minIntervalMs = 30_000): Promise<WriteOutcome | "not_claimed"> {
    if (this.stopping) return "not_claimed";
    const claimStarted = Date.now();
    const row = await claimOne(this.options.pool, {
      connectionId,
      leaseMs: this.settings.leaseMs,
      claimedBy: this.replicaId,
      minIntervalMs,
    });
    if (!row) return "not_claimed";
    this.held.set(row.id, claimStarted + this.settings.leaseMs);
    const provider = this.options.providers.get(row.provider as ProviderId);
    const run = newRun(undefined, new Date(), this.stopController.signal);
    run.claimed = 1;
    if (!provider?.enabled || this.holds.isHeld(provider)) {
      const fallback = provider ?? this.activeProviders()[0] ?? [...this.options.providers.values()][0];
      if (fallback)
        await this.submit(run, fallback, row, { kind: "release", reason: "provider_unavailable" });
      return "skipped";
    }
    const slots = this.slots.get(provider.id) as Semaphore;
    let slotTaken = false;
    let handedOver = false;
    try {
      if ((await this.applyJournaled(run, provider, [row])).length === 0) {
        handedOver = true;
        await Promise.allSettled([...run.writes]);
        return run.counts.refreshed > 0 ? "refreshed" : "skipped";
      }
      await slots.acquire();
      slotTaken = true;
      await this.options.limiter.take(provider.id, 1);
      handedOver = true;
      await this.refreshClaimed(run, provider, row, claimStarted + this.settings.leaseMs, () =>
        slots.release(),
      );
    } finally {
      if (!handedOver) {
        if (slotTaken) slots.release();
        await this.submit(run, provider, row, {
          kind: "release",
          reason: "refresh_one_failed",
          requeue: true,
        });
      }
    }
    if (run.counts.refreshed > 0) return "refreshed";
    if (run.counts.failed > 0) return "failed";
    return "skipped";
  }

  /**
   * Records a rotated answer in the journal before it goes anywhere else (see
   * AnswerJournal.keep). Returns what to call once the writer has stored the answer.
   */
  private journalAnswer(
    run: Run | undefined,
    row: ClaimedConnection,
    success: SuccessItem,
  ): Promise<() => void> {
    const rotated = success.result.refreshToken;
    if (!this.answers || rotated === undefined || rotated === success.usedRefreshToken) {
      return Promise.resolve(() => undefined);
    }
    const { result } = success;
    return this.answers.keep(
      {
        connectionId: row.id,
        userId: row.userId,
        provider: row.provider,
        usedRefreshToken: success.usedRefreshToken,
        accessToken: result.accessToken,
        refreshToken: rotated,
        ...(result.expiresIn !== undefined ? { expiresIn: result.expiresIn } : {}),
        ...(result.scope !== undefined ? { scope: result.scope } : {}),
        receivedAt: success.receivedAt.toISOString(),
        ...(run?.jobRunId ? { jobRunId: run.jobRunId } : {}),
      },
      success.journalSeqs,
    );
  }

  /**
   * Applies journaled answers of just-claimed rows instead of refreshing them: such a row still
   * holds a refresh token an earlier answer replaced, and presenting it again would make the
   * provider revoke the grant. Returns the rows left to refresh. A journal that cannot be read
   * fails the claim (its rows are handed back): refreshing blind could reuse a replaced token.
   */
  private async applyJournaled(
    run: Run,
    provider: ProviderRuntime,
    claimed: ClaimedConnection[],
  ): Promise<ClaimedConnection[]> {
    // Only a claim that ended without an outcome (its worker died, or lost Postgres and the lease)
    // can have left an answer in the journal: every outcome written clears `refresh_claimed_by`.
    const suspect = claimed.filter((row) => row.previousAnswerLost);
    if (!this.answers || suspect.length === 0) return claimed;
    let entries: JournalEntry[];
    try {
      entries = await this.answers.pendingFor(suspect.map((row) => row.id));
    } catch (err) {
      for (const row of claimed) {
        this.track(
          run,
          this.submit(run, provider, row, { kind: "release", reason: "journal_unreadable", requeue: true }),
        );
      }
      throw new Error("cannot read the rotation journal (NATS); claimed connections handed back", {
        cause: err,
      });
    }
    if (entries.length === 0) return claimed;
    const byId = new Map(claimed.map((row) => [row.id, row]));
    for (const entry of entries) this.track(run, this.applyEntry(run, entry, byId));
    const answered = new Set(entries.flatMap((entry) => entry.answers.map((a) => a.connectionId)));
    return claimed.filter((row) => !answered.has(row.id));
  }

  /**
   * Hands every answer of a journal message to the writer (each is fenced: stored only where the
   * row still holds the token its request presented, so answers stored meanwhile change nothing),
   * then removes the message once all of them were written. `claimed` gives the claim of rows this
   * replica holds.
   */
  private async applyEntry(
    run: Run | undefined,
    entry: JournalEntry,
    claimed: ReadonlyMap<string, ClaimedConnection> = new Map(),
  ): Promise<void> {
    const writes = entry.answers.map((answer) => {
      const provider = this.options.providers.get(answer.provider as ProviderId);
      if (!provider) return Promise.resolve(false);
      this.metrics.journal.inc({ event: "replayed" });
      const item = {
        kind: "success" as const,
        usedRefreshToken: answer.usedRefreshToken,
        result: successOf(answer),
        receivedAt: new Date(answer.receivedAt),
        journalSeqs: [],
      };
      const target = run ?? newRun(answer.jobRunId, new Date(), this.stopController.signal);
      return this.submit(target, provider, claimed.get(answer.connectionId) ?? claimOf(answer), item);
    });
    const written = await Promise.all(writes);
    // A message with an answer that could not be written (or for a provider no longer configured)
    // stays for a later replay.
    if (written.every(Boolean)) await this.answers?.remove(entry.seq);
  }

  /**
   * Stores every answer left in the journal (by a replica that died or stopped while Postgres was
   * away). Each is applied only to a row still holding the token its request presented.
   */
  async replayJournal(): Promise<number> {
    if (!this.answers) return 0;
    const entries = await this.answers.pending();
    await Promise.allSettled(entries.map((entry) => this.applyEntry(undefined, entry)));
    const answers = entries.reduce((n, entry) => n + entry.answers.length, 0);
    if (answers > 0) this.options.logger.info({ answers }, "journaled refresh-token answers applied");
    return answers;
  }

  /**
   * Stops claiming; requests in flight are awaited (each is bounded by REFRESH_ANSWER_TIMEOUT) and
   * their outcomes written, until `deadline` (epoch ms). Postgres is waited for only while some
   * rotated answer is not in the journal either: a journaled one is stored by the next replica.
   */
  async stop(deadline = Number.POSITIVE_INFINITY): Promise<void> {
    this.stopController.abort(new Error("refresh engine stopping"));
    while (this.requestsInFlight() > 0 && Date.now() < deadline) await sleep(50);
    const unjournaled = this.answers?.unjournaled ?? 0;
    const writeBy = unjournaled > 0 ? deadline : Math.min(deadline, Date.now() + STOP_WRITE_GRACE_MS);
    // Runs end once their lanes have handed back what they claimed and their outcomes are written.
    const runsDone = Promise.allSettled([...this.runs]);
    await (Number.isFinite(writeBy)
      ? Promise.race([runsDone, sleep(Math.max(0, writeBy - Date.now()))])
      : runsDone);
    const drained = await this.writer.drain(writeBy);
    clearInterval(this.renewTimer);
    if (!drained) {
      this.options.logger.warn(
        { unwritten: this.writer.pending, notJournaled: this.answers?.unjournaled ?? 0 },
        "stopped with refresh outcomes unwritten (Postgres unreachable); rotated tokens among them are in the journal",
      );
    }
  }

  /** Token requests out, and answers being journaled, on this replica. */
  private requestsInFlight(): number {
    return [...this.slots.values()].reduce((n, slots) => n + slots.inUse, this.journaling);
  }
}

function newRun(jobRunId: string | undefined, attemptedBefore: Date, signal: AbortSignal): Run {
  return {
    counts: { checked: 0, refreshed: 0, failed: 0, skipped: 0 },
    timing: { claims: 0, claimMs: 0, limiterMs: 0, requests: 0, requestMs: 0 },
    claimed: 0,
    jobRunId,
    attemptedBefore,
    writes: new Set(),
    signal,
  };
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type SuccessItem = Omit<Extract<WriteItem, { kind: "success" }>, "claim" | "provider" | "jobRunId">;
