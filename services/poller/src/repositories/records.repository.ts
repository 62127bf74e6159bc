import type { OutboxRow } from "@syncwell/bus";
import type { CommunicationCandidate } from "@syncwell/communication";
import type { Queryable } from "@syncwell/db";
import { pageStatementValues } from "./page-statement/parameters.ts";
import { type PageStatementRow, pageStatement, shapeOf } from "./page-statement/statement.ts";

/** A record ready to store: its payload already JSON text. */
export type PreparedRecord = {
  externalId: string;
  /** The payload as JSON text (see domain/payload-json.ts). */
  payloadJson: string;
  occurredAt: Date | null;
};

export type ResourceRef = { connectionId: string; platform: string; resource: string };

/** Counts of a poll: the data.ingested counts plus the communication events created. */
export type PollTotals = {
  added: number;
  updated: number;
  unchanged: number;
  deleted: number;
  /** Items the connector could not use (see `Page.skipped`); in data.ingested only when not 0. */
  skipped: number;
  communicationEvents: number;
};

export const zeroTotals = (): PollTotals => ({
  added: 0,
  updated: 0,
  unchanged: 0,
  deleted: 0,
  skipped: 0,
  communicationEvents: 0,
});

export type PageWrite = {
  ref: ResourceRef;
  /** The claim (`claimed_by`) the poll holds; nothing of the page is written if it no longer does. */
  claimToken: string;
  userId: string;
  records: readonly PreparedRecord[];
  communications: readonly CommunicationCandidate[];
  /** Totals of the poll's earlier pages. */
  before: PollTotals;
  /** Items of this page the connector skipped (added to the poll's `skipped` total). */
  skipped: number;
  /** This poll is a full listing (records it did not see are deleted at its end). */
  fullListing: boolean;
  pollStartedAt: Date;
  /** More pages follow: the resume point, and the lease renewed. */
  next: { pageToken: string; leaseMs: number } | null;
  /** The last page: the new cursor, the next due time, and data.ingested (its counts are filled in here). */
  done: { cursor: string | null; nextPollInMs: number; event: OutboxRow } | null;
};

export type PageResult = {
  /** False when the claim was lost: nothing of the page was written. */
  claimHeld: boolean;
  page: PollTotals;
  totals: PollTotals;
};

/**
 * Writes pages of polls — of different resources, one page each — in ONE statement: atomic
 * without a transaction round trip, and one commit (one WAL flush, one outbox NOTIFY) for the
 * batch. Per page, if its poll still holds the claim (and nothing otherwise): its records stored
 * (inserted, updated or only marked seen, by content hash — see page-statement/record-ctes.ts), on
 * the last page of a full listing the records not seen marked deleted, a communication event per
 * record and matched contact, and the sync state's resume point with the poll's running totals;
 * on a poll's last page also the cursor, the next due time, the claim released, the connection's
 * `last_synced_at` and the data.ingested outbox row, whose counts are computed here. The statement
 * is assembled from named parts (page-statement/statement.ts). Pages of one batch belong to
 * different resources (a poll waits for its page before the next).
 */
export async function writePages(db: Queryable, writes: readonly PageWrite[]): Promise<PageResult[]> {
  if (writes.length === 0) return [];
  const shape = shapeOf(writes);
  const values = pageStatementValues(writes, shape);
  const { rows } = await db.query<PageStatementRow>({ ...pageStatement(shape), values });
  const byPage = new Map(rows.map((row) => [row.k, row]));
  return writes.map((write, k): PageResult => {
    const row = byPage.get(k);
    if (!row) return { claimHeld: false, page: zeroTotals(), totals: write.before };
    return {
      claimHeld: true,
      page: {
        added: row.added,
        updated: row.updated,
        unchanged: row.unchanged,
        deleted: row.deleted,
        skipped: write.skipped,
        communicationEvents: row.comms,
      },
      totals: row.counts,
    };
  });
}
