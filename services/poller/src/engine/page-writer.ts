import { withCommunicationLinksShared } from "@syncwell/db";
import type { Logger } from "@syncwell/telemetry";
import type pg from "pg";
import { type PageResult, type PageWrite, writePages } from "../repositories/records.repository.ts";

export type PageWriterOptions = {
  /** Pages per statement at most. */
  maxBatch?: number;
  /** How long the first page of a batch waits for company. */
  maxWaitMs?: number;
  /** Statements in flight at once (pool connections used); `PAGE_WRITES_IN_FLIGHT` by default. */
  maxConcurrent?: number;
};

/**
 * Page statements in flight at once. Two keep Postgres busy while the next batch gathers; one
 * leaves it idle between statements, and more make concurrent statements contend for the same
 * index pages (every new record goes to the right edge of the UUIDv7 primary key) and split into
 * smaller batches, costing Postgres more CPU for the same pages.
 */
export const PAGE_WRITES_IN_FLIGHT = 2;

/**
 * Session settings for connections that run only page statements.
 * - Generic plans. The statement's plan does not depend on its parameters (every access to a large
 *   table is by index), while a custom plan costs a planning of the whole statement with each
 *   batch's values folded in (its arrays and payload text included) — done on the first five runs
 *   of each shape on every pooled connection, and whenever the planner judges it worth it.
 * - No sequential scans. A generic plan is kept until a table's statistics change, so one made
 *   while raw_records is nearly empty (a new deployment) would read the whole table in every
 *   statement on a server without autovacuum, however large the table grows.
 * Not for a pool shared with other statements, whose plans may depend on their values.
 */
export const PAGE_WRITE_SESSION_SETTINGS = {
  plan_cache_mode: "force_generic_plan",
  enable_seqscan: "off",
} as const;

type Pending = { page: PageWrite; resolve: (result: PageResult) => void; reject: (err: unknown) => void };

const keyOf = (w: PageWrite) => `${w.ref.connectionId}\u0000${w.ref.platform}\u0000${w.ref.resource}`;

/**
 * Group commit for pages: polls hand their pages here, and pages that arrive within a couple of
 * milliseconds of each other are written by one statement (see writePages), after the
 * communication-links lock of their users (see writeLocked) — one commit, one WAL flush and one
 * outbox NOTIFY for the batch instead of one per page. A page still commits with its own
 * records, cursor and event; it just shares the commit with others.
 *
 * A batch that fails as a whole (a deadlock, one page with bad data) is retried page by page, so
 * one bad page fails alone.
 */
export class PageWriter {
  private readonly pool: pg.Pool;
  private readonly logger: Logger;
  private readonly maxBatch: number;
  private readonly maxWaitMs: number;
  private readonly maxConcurrent: number;
  private queue: Pending[] = [];
  private active = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(pool: pg.Pool, logger: Logger, options: PageWriterOptions = {}) {
    this.pool = pool;
    this.logger = logger;
    this.maxBatch = options.maxBatch ?? 32;
    this.maxWaitMs = options.maxWaitMs ?? 2;
    this.maxConcurrent = options.maxConcurrent ?? PAGE_WRITES_IN_FLIGHT;
  }

  write(page: PageWrite): Promise<PageResult> {
    return new Promise<PageResult>((resolve, reject) => {
      this.queue.push({ page, resolve, reject });
      if (this.queue.length >= this.maxBatch) this.pump();
      else this.timer ??= setTimeout(() => this.pump(), this.maxWaitMs);
    });
  }

  private pump(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.active < this.maxConcurrent && this.queue.length > 0) {
      // One page per resource per statement (a poll has one page in flight, but stay safe).
      const batch: Pending[] = [];
      const rest: Pending[] = [];
      const keys = new Set<string>();
      for (const item of this.queue) {
        const key = keyOf(item.page);
        if (batch.length < this.maxBatch && !keys.has(key)) {
          keys.add(key);
          batch.push(item);
        } else rest.push(item);
      }
      this.queue = rest;
      this.active += 1;
      void this.flush(batch).finally(() => {
        this.active -= 1;
        // Pages that queued up meanwhile go at once: they already waited for a statement.
        if (this.queue.length > 0) this.pump();
      });
    }
  }

  private async flush(batch: Pending[]): Promise<void> {
    try {
      const results = await this.writeLocked(batch.map((item) => item.page));
      batch.forEach((item, i) => {
        item.resolve(results[i] as PageResult);
      });
    } catch (err) {
      if (batch.length === 1) {
        batch[0]?.reject(err);
        return;
      }
      this.logger.warn({ err, pages: batch.length }, "a batch of pages failed; writing them one by one");
      await Promise.all(
        batch.map(async (item) => {
          try {
            const [result] = await this.writeLocked([item.page]);
            item.resolve(result as PageResult);
          } catch (single) {
            item.reject(single);
          }
        }),
      );
    }
  }

  /**
   * One page statement, in a transaction that first holds the communication-links lock of the users
   * whose pages name addresses (`withCommunicationLinksShared`): a contact linked meanwhile waits
   * for this write, or this write for the contact, so neither misses the other's rows.
   */
  private writeLocked(pages: readonly PageWrite[]): Promise<PageResult[]> {
    const linking = pages.filter((page) => page.communications.length > 0).map((page) => page.userId);
    return withCommunicationLinksShared(this.pool, linking, (db) => writePages(db, pages));
  }
}
