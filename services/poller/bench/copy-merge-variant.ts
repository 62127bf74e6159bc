/**
 * An experiment for `bench:write-pages -- --variant copy-merge`, never used by the poller: the
 * simpler page write issue #13 names, to weigh against the one-statement form
 * (docs/decisions/0004-page-statement.md). In one transaction:
 *
 * 1. the pages whose poll still holds its claim, their sync states locked;
 * 2. their records `COPY`d into a temporary table: created in the transaction (ON COMMIT DROP), or
 *    with `table: "kept"` once per session (ON COMMIT DELETE ROWS), its statements then prepared;
 * 3. one `MERGE INTO raw_records`: insert the new, update the changed (content hash, or marked
 *    deleted), only move `last_seen_at` of the unchanged;
 * 4. the per-page counts, read back from raw_records (Postgres 15's MERGE returns no rows);
 * 5. the rest of the page — sync state, connection, data.ingested — by the production statement
 *    (`writePages`) with no records, the counts handed in as the earlier pages' totals.
 *
 * Communication events are not written (the caller runs the bench without candidates, and compares
 * with the production statement on the same batches). node-postgres has no `COPY … FROM STDIN`
 * without pg-copy-streams (its Query refuses the copy-in response); `copyIn` below is the least of
 * that protocol, through node-postgres's public "submittable" interface.
 */
import { uuidv7 } from "@syncwell/contracts";
import type pg from "pg";
import { contentHashSql } from "../src/repositories/page-statement/record-ctes.ts";
import {
  type PageResult,
  type PageWrite,
  type PollTotals,
  writePages,
} from "../src/repositories/records.repository.ts";

type Counts = { added: number; updated: number; unchanged: number };

const PAGE_RECORDS = `page_records (k int, id uuid, connection_id uuid, platform text, resource text,
  external_id text, occurred_at timestamptz, payload jsonb)`;

/** The sessions whose kept temporary table exists. */
const withKeptTable = new WeakSet<pg.ClientBase>();

/** Writes the batch as `writePages` does, its records by COPY and MERGE (communication events left out). */
export async function writePagesCopyMerge(
  client: pg.ClientBase,
  writes: readonly PageWrite[],
  table: "dropped" | "kept" = "dropped",
): Promise<PageResult[]> {
  const kept = table === "kept";
  if (kept && !withKeptTable.has(client)) {
    await client.query(`CREATE TEMP TABLE ${PAGE_RECORDS} ON COMMIT DELETE ROWS`);
    withKeptTable.add(client);
  }
  // jit off: the temporary table can only be read whole, which the page writer's sessions cost as
  // a disabled sequential scan, and that cost alone would compile every MERGE.
  await client.query(
    `BEGIN; SET LOCAL jit = off${kept ? "" : `; CREATE TEMP TABLE ${PAGE_RECORDS} ON COMMIT DROP`}`,
  );
  try {
    const held = await lockHeldPages(client, writes);
    await copyIn(client, "COPY page_records FROM STDIN", copyRows(writes, held));
    await client.query(kept ? { name: "bench-merge-records", text: MERGE_RECORDS } : MERGE_RECORDS);
    const counts = await pageCounts(client, kept);
    const rest = await writePages(
      client,
      writes.map((w, k) => ({
        ...w,
        records: [],
        communications: [],
        before: plus(w.before, counts.get(k)),
      })),
    );
    await client.query("COMMIT");
    return rest.map((r, k) => {
      const c = counts.get(k);
      return r.claimHeld && c ? { ...r, page: { ...r.page, ...c } } : r;
    });
  } catch (err) {
    await client.query("ROLLBACK");
    throw err;
  }
}

/** The positions of the pages whose poll still holds the claim, their sync states locked. */
async function lockHeldPages(client: pg.ClientBase, writes: readonly PageWrite[]): Promise<Set<number>> {
  const { rows } = await client.query<{ k: number }>(
    `SELECT p.k FROM (
       SELECT (n - 1)::int AS k, c, pl, r, claim
       FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS t(c, pl, r, claim, n)) p
     CROSS JOIN LATERAL (
       SELECT 1 FROM sync_states s
       WHERE s.connection_id = p.c AND s.platform = p.pl AND s.resource = p.r AND s.claimed_by = p.claim
       OFFSET 0 FOR UPDATE OF s) l`,
    [
      writes.map((w) => w.ref.connectionId),
      writes.map((w) => w.ref.platform),
      writes.map((w) => w.ref.resource),
      writes.map((w) => w.claimToken),
    ],
  );
  return new Set(rows.map((r) => r.k));
}

const MERGE_RECORDS = `MERGE INTO raw_records r
  USING (SELECT s.*, ${contentHashSql("s.payload")} AS content_hash FROM page_records s) s
  ON r.connection_id = s.connection_id AND r.platform = s.platform AND r.resource = s.resource
     AND r.external_id = s.external_id
  WHEN MATCHED AND (r.content_hash IS DISTINCT FROM s.content_hash OR r.deleted_at IS NOT NULL) THEN
    UPDATE SET payload = s.payload, content_hash = s.content_hash, occurred_at = s.occurred_at,
               updated_at = now(), last_seen_at = now(), deleted_at = NULL
  WHEN MATCHED THEN
    UPDATE SET last_seen_at = now()
  WHEN NOT MATCHED THEN
    INSERT (id, connection_id, platform, resource, external_id, payload, content_hash, occurred_at,
            first_seen_at, updated_at, last_seen_at)
    VALUES (s.id, s.connection_id, s.platform, s.resource, s.external_id, s.payload, s.content_hash,
            s.occurred_at, now(), now(), now())`;

/**
 * Per page, what the MERGE did, told by the transaction's `now()` (as the columns store it, to the
 * millisecond): first seen now is added, updated now (and not added) is updated, the rest unchanged.
 */
async function pageCounts(client: pg.ClientBase, prepared: boolean): Promise<Map<number, Counts>> {
  const { rows } = await client.query<Counts & { k: number }>({
    ...(prepared ? { name: "bench-page-counts" } : {}),
    text: `SELECT s.k,
            count(*) FILTER (WHERE r.first_seen_at = n.now)::int AS added,
            count(*) FILTER (WHERE r.updated_at = n.now AND r.first_seen_at <> n.now)::int AS updated,
            count(*) FILTER (WHERE r.updated_at <> n.now)::int AS unchanged
     FROM (SELECT now()::timestamptz(3) AS now) n, page_records s
     JOIN raw_records r ON r.connection_id = s.connection_id AND r.platform = s.platform
       AND r.resource = s.resource AND r.external_id = s.external_id
     GROUP BY s.k`,
  });
  return new Map(rows.map(({ k, ...c }) => [k, c]));
}

function plus(before: PollTotals, page: Counts | undefined): PollTotals {
  if (!page) return before;
  return {
    ...before,
    added: before.added + page.added,
    updated: before.updated + page.updated,
    unchanged: before.unchanged + page.unchanged,
  };
}

/** The held pages' records as COPY text rows (tab-separated, `\N` for null). */
function copyRows(writes: readonly PageWrite[], held: ReadonlySet<number>): string {
  const lines: string[] = [];
  writes.forEach((w, k) => {
    if (!held.has(k)) return;
    const page = `${k}\t`;
    const ref = `\t${w.ref.connectionId}\t${copyText(w.ref.platform)}\t${copyText(w.ref.resource)}\t`;
    for (const r of w.records) {
      const occurred = r.occurredAt === null ? "\\N" : r.occurredAt.toISOString();
      lines.push(
        `${page}${uuidv7()}${ref}${copyText(r.externalId)}\t${occurred}\t${copyText(r.payloadJson)}\n`,
      );
    }
  });
  return lines.join("");
}

/** Text as a field of COPY's text format: backslash, tab, newline and carriage return escaped. */
function copyText(text: string): string {
  return /[\\\t\n\r]/.test(text)
    ? text.replace(
        /[\\\t\n\r]/g,
        (c) => ({ "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r" })[c] as string,
      )
    : text;
}

/**
 * `COPY … FROM STDIN` with the data given as one text, through node-postgres's submittable
 * interface (`client.query` returns the submittable itself, not a promise): the statement is
 * sent; the server's copy-in response is answered with the data and the end of the copy; the
 * command's row count arrives with ReadyForQuery. node-postgres hands a server error to
 * `handleError` alone (the query is no longer active when ReadyForQuery follows).
 */
function copyIn(client: pg.ClientBase, text: string, data: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let rowCount = 0;
    client.query({
      submit: (connection: { query(text: string): void }) => connection.query(text),
      handleCopyInResponse: (connection: { sendCopyFromChunk(b: Buffer): void; endCopyFrom(): void }) => {
        if (data.length > 0) connection.sendCopyFromChunk(Buffer.from(data, "utf8"));
        connection.endCopyFrom();
      },
      handleCommandComplete: (msg: { text: string }) => {
        rowCount = Number(msg.text.split(" ")[1] ?? 0);
      },
      handleReadyForQuery: () => resolve(rowCount),
      handleError: (err: Error) => reject(err),
      handleEmptyQuery: () => {},
      handleRowDescription: () => {},
      handleDataRow: () => {},
      handleCopyData: () => {},
    });
  });
}
