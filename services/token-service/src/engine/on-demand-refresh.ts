import type { Semaphore } from "@syncwell/runtime";
import type pg from "pg";
import type { ProviderId } from "../config.ts";
import type { ProviderRuntime } from "../domain/providers.ts";
import { type ClaimedConnection, claimOne } from "../repositories/refresh-claims.repository.ts";
import type { ClaimLeases } from "./claim-leases.ts";
import type { ClaimOutcomes } from "./claim-outcomes.ts";
import type { JournalReplay } from "./journal-replay.ts";
import type { OperatorHolds } from "./operator-holds.ts";
import type { WriteOutcome } from "./outcome-writer.ts";
import type { ProviderRateLimiter } from "./rate-limiter.ts";
import { newRunState, type RunState } from "./run-state.ts";
import type { RefreshSender } from "./send-refresh.ts";

export type OnDemandRefreshParts = {
  pool: pg.Pool;
  replicaId: string;
  leaseMs: number;
  providers: ReadonlyMap<ProviderId, ProviderRuntime>;
  /** Each provider's request slots, shared with the lanes. */
  requestSlots: ReadonlyMap<ProviderId, Semaphore>;
  limiter: ProviderRateLimiter;
  holds: OperatorHolds;
  leases: ClaimLeases;
  outcomes: ClaimOutcomes;
  replay: JournalReplay;
  sender: RefreshSender;
  /** Aborted when the engine stops. */
  stopSignal: AbortSignal;
};

/**
 * Refreshes one connection now (a `token.refresh-requested`), single flight: only when this replica
 * can claim it, so several pollers reporting the same 401 cause one refresh.
 */
export class OnDemandRefresh {
  private readonly parts: OnDemandRefreshParts;

  constructor(parts: OnDemandRefreshParts) {
    this.parts = parts;
  }

  /**
   * Not claimed when another worker has the connection, it was refreshed within `minIntervalMs`,
   * or the engine is stopping; skipped when its provider is disabled or held.
   */
  async refresh(connectionId: string, minIntervalMs: number): Promise<WriteOutcome | "not_claimed"> {
    const { parts } = this;
    if (parts.stopSignal.aborted) return "not_claimed";
    const claimedAt = Date.now();
    const row = await claimOne(parts.pool, {
      connectionId,
      leaseMs: parts.leaseMs,
      claimedBy: parts.replicaId,
      minIntervalMs,
    });
    if (!row) return "not_claimed";
    const claimLapsesAt = claimedAt + parts.leaseMs;
    parts.leases.hold(row.id, claimLapsesAt);
    const run = newRunState(undefined, new Date(), parts.stopSignal);
    run.claimed = 1;
    const provider = parts.providers.get(row.provider as ProviderId);
    if (!provider?.enabled || parts.holds.isHeld(provider)) {
      await this.releaseUnavailable(run, provider, row);
      return "skipped";
    }
    await this.refreshClaimed(run, provider, row, claimLapsesAt);
    if (run.counts.refreshed > 0) return "refreshed";
    if (run.counts.failed > 0) return "failed";
    return "skipped";
  }

  /**
   * Applies a journaled answer if the row has one, else sends the refresh. Whatever fails on the
   * way (the rate limiter's store, the journal), the slot and the claim are given back.
   */
  private async refreshClaimed(
    run: RunState,
    provider: ProviderRuntime,
    row: ClaimedConnection,
    claimLapsesAt: number,
  ): Promise<void> {
    const { parts } = this;
    const slots = parts.requestSlots.get(provider.id) as Semaphore;
    let slotTaken = false;
    let handedOver = false;
    try {
      if ((await parts.replay.applyToClaimed(run, provider, [row])).length === 0) {
        handedOver = true;
        await Promise.allSettled([...run.unfinished]);
        return;
      }
      await slots.acquire();
      slotTaken = true;
      await parts.limiter.take(provider.id, 1);
      handedOver = true;
      await parts.sender.send(run, provider, row, claimLapsesAt, () => slots.release());
    } finally {
      if (!handedOver) {
        if (slotTaken) slots.release();
        await parts.outcomes.submit(run, provider, row, {
          kind: "release",
          reason: "refresh_one_failed",
          requeue: true,
        });
      }
    }
  }

  /** A claim of a provider this replica does not refresh goes back, counted as a skip. */
  private async releaseUnavailable(
    run: RunState,
    provider: ProviderRuntime | undefined,
    row: ClaimedConnection,
  ): Promise<void> {
    const { providers, holds, outcomes } = this.parts;
    // The writer labels its metrics with a provider: a connection of an unknown one goes under an
    // active provider, or under any configured one.
    const configured = [...providers.values()];
    const labelled = provider ?? configured.find((p) => p.enabled && !holds.isHeld(p)) ?? configured[0];
    if (labelled)
      await outcomes.submit(run, labelled, row, { kind: "release", reason: "provider_unavailable" });
  }
}
