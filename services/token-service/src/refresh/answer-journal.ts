import { randomUUID } from "node:crypto";
import { sleep } from "@syncwell/runtime";
import type { Logger } from "@syncwell/telemetry";
import type { RefreshSuccess } from "../adapters/oauth-token.client.ts";
import type { ClaimedConnection } from "./claims.repository.ts";
import type { RefreshMetrics } from "./metrics.ts";
import type { JournalEntry, RotatedAnswer, RotationJournal } from "./rotation-journal.ts";

/** Longest pause between two attempts to journal an answer while NATS is away. */
const MAX_RETRY_MS = 5_000;

/**
 * The engine's side of the rotation journal: keeps each rotated answer until it is durable
 * somewhere (the journal, or Postgres through the writer), and turns journaled entries back into
 * answers to store.
 */
export class AnswerJournal {
  private readonly journal: RotationJournal;
  private readonly metrics: RefreshMetrics;
  private readonly logger: Logger;
  private notJournaled = 0;

  constructor(journal: RotationJournal, metrics: RefreshMetrics, logger: Logger) {
    this.journal = journal;
    this.metrics = metrics;
    this.logger = logger;
  }

  /** Rotated answers neither journaled nor stored yet (NATS and Postgres both away). */
  get unjournaled(): number {
    return this.notJournaled;
  }

  /**
   * Journals `answer`, adding the entry's sequence to `seqs` (the writer removes those once the
   * answer is stored). When the journal cannot be reached, the answer still goes on to the writer
   * (Postgres may be fine) and the journal is retried in the background until one of the two has
   * it: call the returned function once the writer has stored the answer.
   */
  async keep(answer: RotatedAnswer, seqs: number[]): Promise<() => void> {
    const msgID = randomUUID();
    try {
      seqs.push(await this.journal.record(answer, msgID));
      this.metrics.journalWrite.observe((Date.now() - Date.parse(answer.receivedAt)) / 1000);
      this.metrics.journal.inc({ event: "recorded" });
      return () => undefined;
    } catch (err) {
      this.metrics.journal.inc({ event: "record_failed" });
      this.logger.warn(
        { err, connectionId: answer.connectionId },
        "could not journal a rotated refresh token; writing it to Postgres and retrying the journal meanwhile",
      );
    }
    let durable = false;
    this.notJournaled += 1;
    const settle = () => {
      if (durable) return;
      durable = true;
      this.notJournaled -= 1;
    };
    void this.retry(answer, msgID, seqs, () => durable, settle);
    return settle;
  }

  private async retry(
    answer: RotatedAnswer,
    msgID: string,
    seqs: number[],
    stored: () => boolean,
    settle: () => void,
  ): Promise<void> {
    for (let attempt = 1; !stored(); attempt++) {
      await sleep(Math.min(MAX_RETRY_MS, 250 * 2 ** attempt));
      if (stored()) return;
      try {
        // The same message id: a retry whose first try did land is dropped as a duplicate.
        const seq = await this.journal.record(answer, msgID);
        if (stored()) await this.journal.remove(seq);
        else seqs.push(seq);
        settle();
        return;
      } catch {
        // NATS still away: the writer may store the answer first, which ends this loop.
      }
    }
  }

  pendingFor(connectionIds: readonly string[]): Promise<Map<string, JournalEntry[]>> {
    return this.journal.pendingFor(connectionIds);
  }

  pending(): Promise<JournalEntry[]> {
    return this.journal.pending();
  }

  remove(seq: number): Promise<void> {
    return this.journal.remove(seq);
  }
}

/** A journaled answer as the provider's success it was. */
export function successOf(answer: RotatedAnswer): RefreshSuccess & { ok: true } {
  return {
    ok: true,
    accessToken: answer.accessToken,
    refreshToken: answer.refreshToken,
    ...(answer.expiresIn !== undefined ? { expiresIn: answer.expiresIn } : {}),
    ...(answer.scope !== undefined ? { scope: answer.scope } : {}),
  };
}

/** The claim-shaped view of a journaled answer's connection (for the writer, which re-reads the row). */
export function claimOf(answer: RotatedAnswer): ClaimedConnection {
  return {
    id: answer.connectionId,
    userId: answer.userId,
    provider: answer.provider,
    status: "connected",
    refreshTokenEncrypted: "",
    accessTokenExpiresAt: null,
    consecutiveFailures: 0,
    consecutiveTransientFailures: 0,
    previousAnswerLost: false,
  };
}
