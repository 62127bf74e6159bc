import type { TokenCipher } from "@syncwell/credentials";
import { isDatabaseUnavailable, withTransaction } from "@syncwell/db";
import { BatchQueue, sleep } from "@syncwell/runtime";
import { backoffDelayMs } from "@syncwell/runtime/backoff";
import { type Logger, type RepeatedFailureLog, repeatedFailureLog } from "@syncwell/telemetry";
import type pg from "pg";
import type { RefreshMetrics } from "./metrics.ts";
import { lockRows, OutcomeBatch, type WriteItem, type WriteOutcome } from "./outcome-batch.ts";

export { EVENT_SOURCE, type WriteItem, type WriteOutcome } from "./outcome-batch.ts";

export type OutcomeWriterOptions = {
  pool: pg.Pool;
  cipher: TokenCipher;
  /** This replica's claim id; failures and releases of rows claimed by anyone else are not written. */
  claimedBy: string;
  logger: Logger;
  metrics: RefreshMetrics;
  /** Removes journal entries once their answers are stored (see RotationJournal). */
  removeJournalEntry?: (seq: number) => Promise<void>;
  /** Items per transaction. */
  maxBatch?: number;
  /** How long the first item of a batch waits for company. */
  lingerMs?: number;
  /** Transactions in flight at once. */
  maxConcurrentFlushes?: number;
  /**
   * Attempts per transaction that fails for another reason than an unreachable database (an
   * unreachable one is waited for, however long it takes).
   */
  maxAttempts?: number;
  /** Longest pause between two attempts. */
  maxRetryDelayMs?: number;
  random?: () => number;
};

/**
 * Group commit of refresh outcomes (see OutcomeBatch for what each row gets). Transactions of up to
 * `maxBatch` rows: a transaction per connection would cost its round trips and a WAL flush for
 * every refresh, and the commits alone would bound how fast the engine can refresh.
 *
 * A batch is retried until it is written while Postgres is unreachable: an answer that rotated a
 * refresh token exists nowhere else but here and in the journal, and dropping it would disconnect
 * the user. A retried batch is re-checked row by row, so one that committed before the connection
 * broke changes nothing the second time.
 */
export class OutcomeWriter {
  private readonly options: Required<Omit<OutcomeWriterOptions, "random" | "removeJournalEntry">> &
    Pick<OutcomeWriterOptions, "removeJournalEntry"> & { random: () => number };
  private readonly queue: BatchQueue<WriteItem, WriteOutcome>;
  private readonly outage: RepeatedFailureLog;

  constructor(options: OutcomeWriterOptions) {
    this.options = {
      maxBatch: 250,
      lingerMs: 5,
      maxConcurrentFlushes: 3,
      maxAttempts: 5,
      maxRetryDelayMs: 5_000,
      random: Math.random,
      ...options,
    };
    this.outage = repeatedFailureLog(options.logger, "writing refresh outcomes to Postgres", {
      level: "warn",
      next: "retrying until it answers (journaled answers are safe)",
    });
    this.queue = new BatchQueue({
      maxBatch: this.options.maxBatch,
      lingerMs: this.options.lingerMs,
      maxConcurrent: this.options.maxConcurrentFlushes,
      run: (items) => this.flushWithRetry(items),
    });
  }

  /** Items queued or being written. */
  get pending(): number {
    return this.queue.pending;
  }

  /**
   * Writes the item with others in one transaction. An item deferred by its batch (the same
   * connection came twice in it) goes back in the queue, behind what is there.
   */
  async submit(item: WriteItem): Promise<WriteOutcome> {
    for (;;) {
      const outcome = await this.queue.submit(item);
      if (outcome !== "deferred") return outcome;
    }
  }

  /**
   * Resolves when everything submitted so far is written (or given up), or at `deadline` (epoch
   * ms) with whatever is left: true when nothing is left.
   */
  drain(deadline = Number.POSITIVE_INFINITY): Promise<boolean> {
    return this.queue.drain(deadline);
  }

  private async flushWithRetry(items: WriteItem[]): Promise<WriteOutcome[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        const written = await this.flush(items);
        const outcomes = items.map((_, i): WriteOutcome => written[i] ?? "skipped");
        this.outage.succeeded();
        this.removeJournalEntries(items.filter((_, i) => outcomes[i] !== "deferred"));
        return outcomes;
      } catch (err) {
        const unavailable = isDatabaseUnavailable(err);
        if (!unavailable && attempt >= this.options.maxAttempts) {
          this.options.logger.error(
            { err, connections: items.map((i) => i.claim.id), attempts: attempt },
            "could not write refresh outcomes; journaled answers stay in the journal, other claims lapse and the next run retries them",
          );
          throw err;
        }
        if (unavailable) this.outage.failed(err, { size: items.length, waiting: this.pending });
        else
          this.options.logger.warn(
            { err, attempt, size: items.length },
            "writing refresh outcomes failed; retrying",
          );
        const backoff = { initialDelayMs: 200, maxDelayMs: this.options.maxRetryDelayMs };
        await sleep(backoffDelayMs(backoff, attempt, this.options.random));
      }
    }
  }

  private removeJournalEntries(items: readonly WriteItem[]): void {
    const remove = this.options.removeJournalEntry;
    if (!remove) return;
    for (const item of items) {
      if (item.kind !== "success") continue;
      for (const seq of item.journalSeqs.splice(0)) {
        // A failed removal only leaves an entry whose replay will find the answer already stored.
        remove(seq).catch((err: unknown) =>
          this.options.logger.warn({ err, seq }, "could not remove a stored answer from the journal"),
        );
      }
    }
  }

  private flush(items: WriteItem[]): Promise<WriteOutcome[]> {
    return withTransaction(this.options.pool, async (client) => {
      const rows = await lockRows(
        client,
        items.map((i) => i.claim.id),
      );
      const batch = new OutcomeBatch(this.options, items, rows);
      await batch.write(client);
      return batch.outcomes;
    });
  }
}
