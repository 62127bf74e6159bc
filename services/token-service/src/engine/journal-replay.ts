import type { Logger } from "@syncwell/telemetry";
import type { ProviderId } from "../config.ts";
import type { ProviderRuntime } from "../domain/providers.ts";
import type { ClaimedConnection } from "../repositories/refresh-claims.repository.ts";
import { type AnswerJournal, claimOf, successOf } from "./answer-journal.ts";
import type { ClaimOutcomes, SuccessOutcome } from "./claim-outcomes.ts";
import type { RefreshMetrics } from "./metrics.ts";
import type { JournalEntry } from "./rotation-journal.ts";
import { newRunState, type RunState, trackInRun } from "./run-state.ts";

export type JournalReplayParts = {
  /** Absent: there is no journal, so nothing to replay. */
  answers: AnswerJournal | undefined;
  providers: ReadonlyMap<ProviderId, ProviderRuntime>;
  outcomes: ClaimOutcomes;
  metrics: RefreshMetrics;
  logger: Logger;
  /** Aborted when the engine stops. */
  stopSignal: AbortSignal;
};

/**
 * Stores the answers left in the rotation journal: those of rows just claimed (before they are
 * refreshed again), and at start every answer a replica that died or stopped could not store. Each
 * answer is fenced: stored only where the row still holds the token its request presented, so an
 * answer stored meanwhile changes nothing.
 */
export class JournalReplay {
  private readonly parts: JournalReplayParts;

  constructor(parts: JournalReplayParts) {
    this.parts = parts;
  }

  /**
   * Applies journaled answers of just-claimed rows instead of refreshing them: such a row still
   * holds a refresh token an earlier answer replaced, and presenting it again would make the
   * provider revoke the grant. Returns the rows left to refresh. A journal that cannot be read
   * fails the claim (its rows are handed back): refreshing blind could reuse a replaced token.
   */
  async applyToClaimed(
    run: RunState,
    provider: ProviderRuntime,
    claimed: ClaimedConnection[],
  ): Promise<ClaimedConnection[]> {
    const { answers, outcomes } = this.parts;
    // Only a claim that ended without an outcome (its worker died, or lost Postgres and the lease)
    // can have left an answer in the journal: every outcome written clears `refresh_claimed_by`.
    const answerMaybeJournaled = claimed.filter((row) => row.previousAnswerLost);
    if (!answers || answerMaybeJournaled.length === 0) return claimed;
    let entries: JournalEntry[];
    try {
      entries = await answers.pendingFor(answerMaybeJournaled.map((row) => row.id));
    } catch (err) {
      for (const row of claimed) {
        trackInRun(
          run,
          outcomes.submit(run, provider, row, {
            kind: "release",
            reason: "journal_unreadable",
            requeue: true,
          }),
        );
      }
      throw new Error("cannot read the rotation journal (NATS); claimed connections handed back", {
        cause: err,
      });
    }
    if (entries.length === 0) return claimed;
    const claimsById = new Map(claimed.map((row) => [row.id, row]));
    for (const entry of entries) trackInRun(run, this.applyMessage(run, entry, claimsById));
    const answered = new Set(entries.flatMap((entry) => entry.answers.map((a) => a.connectionId)));
    return claimed.filter((row) => !answered.has(row.id));
  }

  /**
   * Stores every answer left in the journal (by a replica that died or stopped while Postgres was
   * away). Returns how many answers it found.
   */
  async replayAll(): Promise<number> {
    const { answers, logger } = this.parts;
    if (!answers) return 0;
    const entries = await answers.pending();
    await Promise.allSettled(entries.map((entry) => this.applyMessage(undefined, entry)));
    const found = entries.reduce((n, entry) => n + entry.answers.length, 0);
    if (found > 0) logger.info({ answers: found }, "journaled refresh-token answers applied");
    return found;
  }

  /**
   * Hands every answer of a journal message to the writer, then removes the message once all of
   * them were written. `claimsHeld` gives the claim of rows this replica holds; other rows are
   * written from the answer alone (the writer re-reads the row).
   */
  private async applyMessage(
    run: RunState | undefined,
    entry: JournalEntry,
    claimsHeld: ReadonlyMap<string, ClaimedConnection> = new Map(),
  ): Promise<void> {
    const { providers, outcomes, metrics, stopSignal } = this.parts;
    const writes = entry.answers.map((answer) => {
      const provider = providers.get(answer.provider as ProviderId);
      if (!provider) return Promise.resolve(false);
      metrics.journal.inc({ event: "replayed" });
      const success: SuccessOutcome = {
        kind: "success",
        usedRefreshToken: answer.usedRefreshToken,
        result: successOf(answer),
        receivedAt: new Date(answer.receivedAt),
        journalSeqs: [],
      };
      const target = run ?? newRunState(answer.jobRunId, new Date(), stopSignal);
      return outcomes.submit(
        target,
        provider,
        claimsHeld.get(answer.connectionId) ?? claimOf(answer),
        success,
      );
    });
    const written = await Promise.all(writes);
    // A message with an answer that could not be written (or for a provider no longer configured)
    // stays for a later replay.
    if (written.every(Boolean)) await this.parts.answers?.remove(entry.seq);
  }
}
