import type { AnyEvent } from "@syncwell/contracts";
import type { TokenCipher } from "@syncwell/credentials";
import type { Logger } from "@syncwell/telemetry";
import {
  type RefreshResult,
  refreshAccessToken,
  type TokenEndpoint,
} from "../adapters/oauth-token.client.ts";
import type { ProviderRuntime } from "../domain/providers.ts";
import { classifyFailure, type RefreshFailure, ROTATION_LOST } from "../domain/refresh-outcome.ts";
import type { ClaimedConnection } from "../repositories/refresh-claims.repository.ts";
import type { AnswerJournal } from "./answer-journal.ts";
import type { ClaimLeases } from "./claim-leases.ts";
import type { ClaimOutcomes, SuccessOutcome } from "./claim-outcomes.ts";
import type { RefreshMetrics } from "./metrics.ts";
import { providerMisconfiguredAlert } from "./operator-alert.ts";
import type { OperatorHolds } from "./operator-holds.ts";
import type { ProviderPauses } from "./provider-pauses.ts";
import type { RunState } from "./run-state.ts";

/** A request must be able to finish this long before its claim lapses, or it is not started. */
const LEASE_MARGIN_MS = 2_000;

export type RefreshSenderParts = {
  cipher: TokenCipher;
  logger: Logger;
  metrics: RefreshMetrics;
  replicaId: string;
  /** Time to connect and send one token request, and to wait for its answer once out. */
  timeouts: { sendTimeoutMs: number; answerTimeoutMs: number };
  leases: ClaimLeases;
  holds: OperatorHolds;
  pauses: ProviderPauses;
  outcomes: ClaimOutcomes;
  /** Absent: rotated answers live only in this process until Postgres has them. */
  answers: AnswerJournal | undefined;
  /** Aborted when the engine stops. */
  stopSignal: AbortSignal;
};

/**
 * Sends the refresh of one connection claimed by this replica: presents its refresh token at the
 * provider, journals a rotated answer before anything else happens to it, classifies a failure,
 * and hands the outcome to the writer.
 */
export class RefreshSender {
  private readonly parts: RefreshSenderParts;
  /** Rotated answers being written to the journal right now (a stop waits for them). */
  private journaling = 0;

  constructor(parts: RefreshSenderParts) {
    this.parts = parts;
  }

  get answersBeingJournaled(): number {
    return this.journaling;
  }

  /**
   * Request, classify, hand to the writer. `releaseSlot` gives the provider's request slot back
   * once the answer is in (a stop waits for the slots to empty, then for answers being journaled);
   * `claimLapsesAt` is the claim's lapse when the leases no longer know it.
   */
  async send(
    run: RunState | undefined,
    provider: ProviderRuntime,
    row: ClaimedConnection,
    claimLapsesAt: number,
    releaseSlot: () => void,
  ): Promise<boolean> {
    const { outcomes } = this.parts;
    let slotHeld = true;
    const freeSlot = () => {
      if (slotHeld) {
        slotHeld = false;
        releaseSlot();
      }
    };
    try {
      const skip = this.skipReason(provider, row, claimLapsesAt);
      if (skip) {
        // Handed back uncounted: a later pass or run takes it (a held provider's due connections
        // are counted as skipped once per tick by the run's owner).
        freeSlot();
        return await outcomes.submit(run, provider, row, { kind: "release", reason: skip, requeue: true });
      }
      const refreshToken = this.decryptRefreshToken(provider, row);
      if (refreshToken === undefined) {
        freeSlot();
        return await outcomes.submit(run, provider, row, { kind: "release", reason: "undecryptable" });
      }
      const result = await this.requestToken(run, provider, refreshToken);
      const receivedAt = new Date();
      freeSlot();
      if (!result.ok) return await this.submitFailure(run, provider, row, refreshToken, result, receivedAt);
      const success: SuccessOutcome = {
        kind: "success",
        usedRefreshToken: refreshToken,
        result,
        receivedAt,
        journalSeqs: [],
      };
      this.journaling += 1;
      let stored: () => void;
      try {
        stored = await this.journalAnswer(run, row, success);
      } finally {
        this.journaling -= 1;
      }
      try {
        return await outcomes.submit(run, provider, row, success);
      } finally {
        stored();
      }
    } finally {
      freeSlot();
    }
  }

  /** Why a claimed connection is handed back instead of refreshed now, if it is. */
  private skipReason(
    provider: ProviderRuntime,
    row: ClaimedConnection,
    claimLapsesAt: number,
  ): string | undefined {
    if (this.parts.stopSignal.aborted) return "stopping";
    if (this.parts.holds.isHeld(provider)) return "provider_held";
    const lapsesAt = this.parts.leases.lapseOf(row.id) ?? claimLapsesAt;
    if (Date.now() + this.parts.timeouts.sendTimeoutMs + LEASE_MARGIN_MS > lapsesAt) return "lease_too_short";
    return undefined;
  }

  /** The row's refresh token; undefined (logged) when its key is gone. */
  private decryptRefreshToken(provider: ProviderRuntime, row: ClaimedConnection): string | undefined {
    try {
      return this.parts.cipher.decrypt(row.refreshTokenEncrypted);
    } catch (err) {
      // A key missing from TOKEN_ENCRYPTION_KEYS is the operator's problem, not the user's.
      this.parts.logger.error(
        { connectionId: row.id, provider: provider.id, err },
        "cannot decrypt the refresh token (is its key still in TOKEN_ENCRYPTION_KEYS?); connection skipped",
      );
      return undefined;
    }
  }

  /** The refresh_token grant at the provider, timed (metrics and the run's progress figures). */
  private async requestToken(
    run: RunState | undefined,
    provider: ProviderRuntime,
    refreshToken: string,
  ): Promise<RefreshResult> {
    const { metrics, timeouts } = this.parts;
    const endpoint: TokenEndpoint = {
      tokenUrl: provider.tokenUrl,
      clientId: provider.clientId ?? "",
      clientSecret: provider.clientSecret ?? "",
      clientAuth: provider.spec.clientAuth,
    };
    metrics.inFlight.inc({ provider: provider.id });
    const started = performance.now();
    try {
      return await refreshAccessToken(endpoint, refreshToken, {
        sendTimeoutMs: timeouts.sendTimeoutMs,
        answerTimeoutMs: timeouts.answerTimeoutMs,
      });
    } finally {
      const requestMs = performance.now() - started;
      metrics.requestDuration.observe({ provider: provider.id }, requestMs / 1000);
      metrics.inFlight.dec({ provider: provider.id });
      if (run) {
        run.timing.requests += 1;
        run.timing.requestMs += requestMs;
      }
    }
  }

  /** Classifies a failed refresh and hands it to the writer; operator errors and 429s act first. */
  private submitFailure(
    run: RunState | undefined,
    provider: ProviderRuntime,
    row: ClaimedConnection,
    refreshToken: string,
    failure: RefreshFailure,
    receivedAt: Date,
  ): Promise<boolean> {
    const { outcomes } = this.parts;
    if (row.previousAnswerLost) failure.afterLostAnswer = true;
    const classified = classifyFailure(failure);
    if (classified.errorCode === ROTATION_LOST) {
      this.parts.metrics.rotationLost.inc({ provider: provider.id });
      this.parts.logger.warn(
        { connectionId: row.id, provider: provider.id },
        "refresh token refused after an earlier answer never arrived: its rotated refresh token was lost (rotation_lost), not revoked by the user",
      );
    }
    if (classified.failureClass === "operator") {
      const alert = this.holdProvider(provider, classified.errorCode, failure);
      return outcomes.submit(run, provider, row, {
        kind: "operator",
        failure,
        errorCode: classified.errorCode,
        alert,
      });
    }
    if (failure.status === 429) this.parts.pauses.pause(provider, failure.retryAfterMs);
    return outcomes.submit(run, provider, row, {
      kind: "failure",
      usedRefreshToken: refreshToken,
      failure,
      receivedAt,
    });
  }

  /** Holds the provider; the first hold of a configuration also builds the operator alert. */
  private holdProvider(
    provider: ProviderRuntime,
    errorCode: string,
    failure: RefreshFailure,
  ): AnyEvent | undefined {
    const { holds, metrics, replicaId, logger } = this.parts;
    if (!holds.hold(provider, errorCode)) return undefined;
    metrics.operatorAlerts.inc({ provider: provider.id, error_code: errorCode });
    metrics.providerHeld.set({ provider: provider.id }, 1);
    return providerMisconfiguredAlert(provider, errorCode, failure, replicaId, logger);
  }

  /**
   * Records a rotated answer in the journal before it goes anywhere else (see
   * AnswerJournal.keep). Returns what to call once the writer has stored the answer.
   */
  private journalAnswer(
    run: RunState | undefined,
    row: ClaimedConnection,
    success: SuccessOutcome,
  ): Promise<() => void> {
    const rotated = success.result.refreshToken;
    const { answers } = this.parts;
    if (!answers || rotated === undefined || rotated === success.usedRefreshToken) {
      return Promise.resolve(() => undefined);
    }
    const { result } = success;
    return answers.keep(
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
}
