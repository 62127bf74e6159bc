import { Condition, type Semaphore, sleep } from "@syncwell/runtime";
import type pg from "pg";
import type { ProviderRuntime } from "../domain/providers.ts";
import {
  type ClaimedConnection,
  type ClaimOptions,
  type ClaimPhase,
  claimDue,
  claimPhases,
} from "../repositories/refresh-claims.repository.ts";
import type { ClaimLeases } from "./claim-leases.ts";
import type { ClaimOutcomes } from "./claim-outcomes.ts";
import type { JournalReplay } from "./journal-replay.ts";
import type { OperatorHolds } from "./operator-holds.ts";
import type { ProviderPauses } from "./provider-pauses.ts";
import type { ProviderRateLimiter } from "./rate-limiter.ts";
import { type RunState, trackInRun } from "./run-state.ts";
import type { RefreshSender } from "./send-refresh.ts";

/** Outcomes waiting to be written before lanes stop claiming (memory bound). */
const MAX_PENDING_WRITES = 2_000;

/** What every lane of the engine shares. */
export type LaneParts = {
  pool: pg.Pool;
  replicaId: string;
  settings: { leadMs: number; idleMaxMs: number; leaseMs: number; batchSize: number };
  limiter: ProviderRateLimiter;
  holds: OperatorHolds;
  pauses: ProviderPauses;
  leases: ClaimLeases;
  outcomes: ClaimOutcomes;
  replay: JournalReplay;
  sender: RefreshSender;
};

type QueuedClaim = { row: ClaimedConnection; claimLapsesAt: number };

/**
 * One provider's lane in a run: a claimer keeps a short queue of claimed rows (at most
 * `maxQueued`, refilled when half empty, rate-limit tokens already taken) and a starter feeds them
 * into the provider's request slots as slots free up. Claiming ahead hides the claim and
 * rate-limiter round trips behind requests in flight; the queue is short enough that a queued row
 * waits a fraction of a second, far inside its lease (and a row whose lease got too short is
 * released, not started).
 */
export class ProviderLane {
  private readonly parts: LaneParts;
  private readonly run: RunState;
  private readonly provider: ProviderRuntime;
  private readonly slots: Semaphore;
  /** Gives back one request slot; the sender calls it once per row. */
  private readonly releaseSlot: () => void;
  /** At most a batch, the provider's request slots, or a second of its rate limit. */
  private readonly maxQueued: number;
  /** The claimer claims again once the queue is down to this many rows. */
  private readonly refillAt: number;
  private readonly queue: QueuedClaim[] = [];
  /** False once the claimer has ended: the starter ends when the queue is empty. */
  private claiming = true;
  private readonly rowsQueued = new Condition();
  private readonly roomInQueue = new Condition();
  /** Index into `claimPhases` of the phase being claimed. */
  private phaseIndex = 0;
  /** `expiring` phase: the latest expiry claimed so far. */
  private expiresFrom: Date | null = null;

  constructor(parts: LaneParts, run: RunState, provider: ProviderRuntime, slots: Semaphore) {
    this.parts = parts;
    this.run = run;
    this.provider = provider;
    this.slots = slots;
    this.releaseSlot = () => slots.release();
    this.maxQueued = Math.max(
      1,
      Math.min(parts.settings.batchSize, provider.concurrency, Math.floor(provider.rateLimitPerSec)),
    );
    this.refillAt = Math.floor(this.maxQueued / 2);
  }

  /** Claims and starts refreshes until nothing is left, the provider is held or the run stops. */
  async drive(): Promise<void> {
    const starter = this.startQueued();
    const wakeClaimer = () => this.roomInQueue.notify();
    this.run.signal.addEventListener("abort", wakeClaimer, { once: true });
    try {
      await this.claimUntilDone();
    } finally {
      this.run.signal.removeEventListener("abort", wakeClaimer);
      this.claiming = false;
      this.rowsQueued.notify();
      await starter;
      for (const { row } of this.queue.splice(0)) {
        this.parts.outcomes.handBack(this.run, this.provider, row, "stopping");
      }
    }
  }

  /** The starter: feeds queued rows into the provider's request slots as slots free up. */
  private async startQueued(): Promise<void> {
    const { run, provider } = this;
    for (;;) {
      if (this.queue.length === 0) {
        if (!this.claiming) return;
        await this.rowsQueued.wait();
        continue;
      }
      try {
        await this.slots.acquire(run.signal);
      } catch {
        return; // stopping: the rows still queued are handed back by drive()
      }
      const next = this.queue.shift();
      if (!next) {
        this.slots.release();
        continue;
      }
      if (this.queue.length <= this.refillAt) this.roomInQueue.notify();
      trackInRun(run, this.parts.sender.send(run, provider, next.row, next.claimLapsesAt, this.releaseSlot));
    }
  }

  /** The claimer: claims phase after phase, as the queue has room, until no phase has rows left. */
  private async claimUntilDone(): Promise<void> {
    const { run, provider, parts } = this;
    while (!run.signal.aborted && this.phaseIndex < claimPhases.length && !parts.holds.isHeld(provider)) {
      const wait = this.waitBeforeClaim();
      if (wait) {
        await wait;
        continue;
      }
      const claimedAt = Date.now();
      const claimStarted = performance.now();
      const claimed = await claimDue(parts.pool, this.nextClaim());
      run.timing.claims += 1;
      run.timing.claimMs += performance.now() - claimStarted;
      run.claimed += claimed.length;
      if (claimed.length === 0) {
        this.phaseIndex += 1;
        continue;
      }
      this.advanceExpiresFrom(claimed);
      const claimLapsesAt = claimedAt + parts.settings.leaseMs;
      for (const row of claimed) parts.leases.hold(row.id, claimLapsesAt);
      const toRefresh = await parts.replay.applyToClaimed(run, provider, claimed);
      if (toRefresh.length === 0) continue;
      const limiterStarted = performance.now();
      let granted: number;
      try {
        granted = await parts.limiter.take(provider.id, toRefresh.length, run.signal);
      } catch (err) {
        // The limiter's store failed: hand the rows back rather than hold them until restart.
        for (const row of toRefresh) parts.outcomes.handBack(run, provider, row, "limiter_error");
        throw err;
      }
      run.timing.limiterMs += performance.now() - limiterStarted;
      this.enqueue(toRefresh, granted, claimLapsesAt);
    }
  }

  /** What the claimer waits for before claiming again, if anything. */
  private waitBeforeClaim(): Promise<void> | undefined {
    const { signal } = this.run;
    // The provider answered 429: every request now would fail too.
    const pause = this.parts.pauses.remainingMs(this.provider.id);
    if (pause > 0) return sleep(pause, signal);
    if (this.parts.outcomes.pending > MAX_PENDING_WRITES) return sleep(10, signal);
    if (this.queue.length > this.refillAt) return this.roomInQueue.wait();
    return undefined;
  }

  /** The claim query for the current phase; `expiring` resumes past the rows it already claimed. */
  private nextClaim(): ClaimOptions {
    const { settings } = this.parts;
    return {
      provider: this.provider.id,
      phase: claimPhases[this.phaseIndex] as ClaimPhase,
      limit: Math.max(1, this.maxQueued - this.queue.length),
      leadMs: settings.leadMs,
      idleMaxMs: settings.idleMaxMs,
      leaseMs: settings.leaseMs,
      claimedBy: this.parts.replicaId,
      attemptedBefore: this.run.attemptedBefore,
      expiresFrom: this.expiresFrom,
    };
  }

  /** Queues the rows the rate limiter granted and hands the rest back (the run is stopping). */
  private enqueue(rows: readonly ClaimedConnection[], granted: number, claimLapsesAt: number): void {
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i] as ClaimedConnection;
      if (i < granted) this.queue.push({ row, claimLapsesAt });
      else this.parts.outcomes.handBack(this.run, this.provider, row, "stopping");
    }
    this.rowsQueued.notify();
  }

  /** `expiring` phase: the next claim resumes its index scan past the latest expiry claimed. */
  private advanceExpiresFrom(claimed: readonly ClaimedConnection[]): void {
    if (claimPhases[this.phaseIndex] !== "expiring") return;
    for (const row of claimed) {
      const at = row.accessTokenExpiresAt;
      if (at && (this.expiresFrom === null || at > this.expiresFrom)) this.expiresFrom = at;
    }
  }
}
