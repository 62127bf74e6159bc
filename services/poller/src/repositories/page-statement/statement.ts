import type { PageWrite, PollTotals } from "../records.repository.ts";
import { commCountsCte, commsCte } from "./communication-ctes.ts";
import { heldCte, outboxCte, pagesCte, stateCte, syncedCte, totalsCte } from "./page-ctes.ts";
import {
  existingCte,
  goneCountsCte,
  goneCte,
  inputCte,
  insertedCte,
  seenCountsCte,
  seenCte,
  touchedCte,
  updatedCte,
} from "./record-ctes.ts";

/**
 * Which optional parts a batch needs. Each shape is its own prepared statement (a handful in all),
 * so the planner sees each once per connection.
 */
export type PageStatementShape = {
  /** A page is its poll's last: the connection's `last_synced_at` and data.ingested are written. */
  final: boolean;
  /** A page is the last of a full listing: records it did not see are marked deleted. */
  gone: boolean;
  /** A page has communication candidates: events are recorded. */
  comms: boolean;
};

/** One row per held page (a page missing from the result was not written: its claim was lost). */
export type PageStatementRow = {
  k: number;
  added: number;
  updated: number;
  unchanged: number;
  deleted: number;
  comms: number;
  counts: PollTotals;
};

export function shapeOf(writes: readonly PageWrite[]): PageStatementShape {
  return {
    final: writes.some((w) => w.done !== null),
    gone: writes.some((w) => w.done !== null && w.fullListing),
    comms: writes.some((w) => w.communications.length > 0),
  };
}

/**
 * The WITH list of a shape, in order. Every access to a large table goes through an index, whatever
 * the planner believes of the JSON inputs (it guesses 100 rows for any jsonb_to_recordset): per-row
 * lookups are LATERAL sub-queries that cannot be flattened (OFFSET 0), and updates find their rows
 * by primary key from an array. A hash join against a full scan of raw_records per batch would grow
 * with the table.
 */
export function pageStatementCtes(shape: PageStatementShape): string[] {
  return [
    pagesCte(),
    heldCte(),
    inputCte(),
    existingCte(),
    insertedCte(),
    updatedCte(),
    touchedCte(),
    seenCte(),
    seenCountsCte(),
    ...(shape.gone ? [goneCte(), goneCountsCte()] : []),
    ...(shape.comms ? [commsCte(), commCountsCte()] : []),
    totalsCte(shape),
    stateCte(),
    ...(shape.final ? [syncedCte(), outboxCte()] : []),
  ];
}

/** The prepared statement of a shape: its name and text (parameters: see parameters.ts). */
export function pageStatement(shape: PageStatementShape): { name: string; text: string } {
  const suffix = `${shape.final ? "f" : ""}${shape.gone ? "g" : ""}${shape.comms ? "c" : ""}`;
  return {
    name: `poller-write-pages-${suffix}`,
    text: `WITH ${pageStatementCtes(shape).join(",\n")}
     SELECT k, added, updated, unchanged, deleted, comms, counts FROM totals`,
  };
}
