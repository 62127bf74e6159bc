import { randomUUID } from "node:crypto";
import { sleep } from "@syncwell/runtime";
import { backoffDelayMs } from "@syncwell/runtime/backoff";
import type { Logger } from "@syncwell/telemetry";
import type { RefreshSuccess } from "../adapters/oauth-token.client.ts";
import type { ClaimedConnection } from "../repositories/refresh-claims.repository.ts";
import type { RefreshMetrics } from "./metrics.ts";
import type { JournalEntry, RotatedAnswer, RotationJournal } from "./rotation-journal.ts";

/** Longest pause between two attempts to journal an answer while NATS is away. */
const MAX_RETRY_MS = 5_000;
/** Most answers in one journal message. */
const MAX_ANSWERS_PER_MESSAGE = 256;
/** Journal writes out at once: answers wait for a free one, not for every write before them. */
const MAX_WRITES_OUT = 4;

type WaitingAnswer = {
  answer: RotatedAnswer;
  /** The writer's list of journal messages holding the answer (see WriteItem `journalSeqs`). */
  journalSeqs: number[];
  /** Resolves `keep` with what to call once the writer has stored the answer. */
  kept: (onStored: () => void) => void;
};

/**
 * The engine's side of the rotation journal: keeps each rotated answer until it is durable
 * somewhere (the journal, or Postgres through the writer), and turns journal messages back into
 * answers to store.
 *
 * Writes are grouped: answers that arrive while the journal writes are out (at most MAX_WRITES_OUT)
 * go together in the next one, so the journal costs one JetStream write (and later one delete) per
 * group rather than per answer. A message is deleted once every answer in it is stored.
 */
export class AnswerJournal {
  private readonly journal: RotationJournal;
  private readonly metrics: RefreshMetrics;
  private readonly logger: Logger;
  private notJournaled = 0;
  private queue: WaitingAnswer[] = [];
  private writesOut = 0;
  /** Journal message (sequence) of ours → how many of its answers are not stored yet. */
  private readonly unstoredAnswers = new Map<number, number>();

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
   * Journals `answer`, adding its message's sequence to `journalSeqs` (the writer hands those to
   * `stored` once the answer is in Postgres). When the journal cannot be reached, the answer still
   * goes on to the writer (Postgres may be fine) and the journal is retried in the background
   * until one of the two has it: call the returned function once the writer has stored the answer.
   */
  keep(answer: RotatedAnswer, journalSeqs: number[]): Promise<() => void> {
    return new Promise((kept) => {
      this.queue.push({ answer, journalSeqs, kept });
      if (this.writesOut < MAX_WRITES_OUT) void this.writeGroups();
    });
  }

  /** One answer of message `seq` is stored: the message goes once all of its answers are. */
  stored(seq: number): Promise<void> {
    const left = (this.unstoredAnswers.get(seq) ?? 1) - 1;
    if (left > 0) {
      this.unstoredAnswers.set(seq, left);
      return Promise.resolve();
    }
    this.unstoredAnswers.delete(seq);
    return this.journal.remove(seq);
  }

  private async writeGroups(): Promise<void> {
    this.writesOut += 1;
    try {
      while (this.queue.length > 0) {
        const group = this.queue.splice(0, MAX_ANSWERS_PER_MESSAGE);
        await this.writeGroup(group);
      }
    } finally {
      this.writesOut -= 1;
    }
  }

  private async writeGroup(group: WaitingAnswer[]): Promise<void> {
    try {
      const seq = await this.journal.record(group.map((w) => w.answer));
      this.unstoredAnswers.set(seq, group.length);
      const now = Date.now();
      for (const waiting of group) {
        waiting.journalSeqs.push(seq);
        this.metrics.journalWrite.observe((now - Date.parse(waiting.answer.receivedAt)) / 1000);
        waiting.kept(() => undefined);
      }
      this.metrics.journal.inc({ event: "recorded" }, group.length);
    } catch (err) {
      this.metrics.journal.inc({ event: "record_failed" }, group.length);
      this.logger.warn(
        { err, answers: group.length },
        "could not journal rotated refresh tokens; writing them to Postgres and retrying the journal meanwhile",
      );
      for (const waiting of group) waiting.kept(this.retryInBackground(waiting));
    }
  }

  /**
   * Retries one answer's journal write, alone, until it lands or the answer is stored (the
   * returned function, called by the writer).
   */
  private retryInBackground(waiting: WaitingAnswer): () => void {
    let durable = false;
    this.notJournaled += 1;
    const becameDurable = () => {
      if (durable) return;
      durable = true;
      this.notJournaled -= 1;
    };
    const msgID = randomUUID();
    void (async () => {
      for (let attempt = 1; !durable; attempt++) {
        await sleep(backoffDelayMs({ initialDelayMs: 500, maxDelayMs: MAX_RETRY_MS }, attempt));
        if (durable) return;
        try {
          // The same message id: a retry whose first try did land is dropped as a duplicate.
          const seq = await this.journal.record([waiting.answer], msgID);
          if (durable) await this.journal.remove(seq);
          else {
            this.unstoredAnswers.set(seq, 1);
            waiting.journalSeqs.push(seq);
          }
          becameDurable();
          return;
        } catch {
          // NATS still away: the writer may store the answer first, which ends this loop.
        }
      }
    })();
    return becameDurable;
  }

  pendingFor(connectionIds: readonly string[]): Promise<JournalEntry[]> {
    return this.journal.pendingFor(connectionIds);
  }

  pending(): Promise<JournalEntry[]> {
    return this.journal.pending();
  }

  /** Removes a message read back from the journal once all of its answers went to the writer. */
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
