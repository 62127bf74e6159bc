import type { OutboxRow } from "@syncwell/bus";
import { uuidv7 } from "@syncwell/contracts";
import type { Queryable } from "@syncwell/db";
import type { CommunicationCandidate } from "../engine/communication.ts";

/** A record ready to store: its payload already JSON text. */
export type PreparedRecord = {
  externalId: string;
  /** The payload as JSON text (see domain/payload-json.ts). */
  payloadJson: string;
  occurredAt: Date | null;
};

/**
 * A record's content hash, computed by Postgres from the stored jsonb: its 64-bit jsonb hash (the
 * one hash indexes use), as 16 hex digits. jsonb keeps one key order and no insignificant
 * whitespace, so the same content always has the same hash, whatever key order or spacing the
 * platform sent, and no copy of every payload has to be sorted in the poller first. The hash tells
 * a record's new content from its previous one, nothing more: 64 bits are plenty for that, and it
 * costs a tenth of a sha256 of the jsonb's text. (Should a Postgres upgrade ever change jsonb
 * hashing, each record would count as updated once.)
 */
export const contentHashSql = (jsonb: string): string =>
  `lpad(to_hex(jsonb_hash_extended(${jsonb}, 0)), 16, '0')`;

/**
 * Separates the payloads of a batch, sent as one text: JSON text never holds a raw control
 * character (inside strings they are escaped, and outside them only spaces, tabs and newlines may
 * appear). A payload that did hold one would shift every later payload onto the wrong record, so
 * writePages refuses it.
 */
const PAYLOAD_SEPARATOR = "\u001e";

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
  held: boolean;
  page: PollTotals;
  totals: PollTotals;
};

/**
 * Writes pages of polls — of different resources, one page each — in ONE statement: atomic
 * without a transaction round trip, and one commit (one WAL flush, one outbox NOTIFY) for the
 * batch. Per page (`k`):
 * - `held` locks the sync state if its poll still holds the claim; every write of the page is
 *   guarded by it (a poll whose lease was taken over writes nothing);
 * - `existing` looks each record up; `inserted` stores the new ones, `updated` the known ones
 *   whose content hash changed (or that were marked deleted and came back), `touched` moves
 *   `last_seen_at` of the unchanged ones. A page's external ids are unique (the caller
 *   deduplicates), so no row is written twice;
 * - on the last page of a full listing, `gone` marks the records not seen since the poll started
 *   as deleted (the page's own records, not yet visible as seen in the snapshot, are excluded);
 * - `comms` records a communication event per record and matched contact, once;
 * - `state` saves the resume point with the poll's running totals (or, on the last page, the
 *   cursor, the next due time and the claim released), in the same statement as the records;
 * - on the last page, the connection's `last_synced_at` (rows locked in id order, so concurrent
 *   batches cannot deadlock) and the data.ingested outbox row, whose counts are computed here.
 * Pages of one batch belong to different resources (a poll waits for its page before the next).
 */
export async function writePages(db: Queryable, writes: readonly PageWrite[]): Promise<PageResult[]> {
  if (writes.length === 0) return [];
  const pages: string[] = [];
  // The records and communication events go as columns (unnest of arrays) and the payloads as
  // one text: a JSON array of objects costs Postgres a jsonb tree of every record, with its keys
  // sorted, before the columns are taken out of it.
  const records = new ColumnsText(4);
  const payloads: string[] = [];
  const comms = new ColumnsText(7);
  writes.forEach((w, k) => {
    const e = w.done?.event;
    pages.push(
      JSON.stringify({
        k,
        connection_id: w.ref.connectionId,
        platform: w.ref.platform,
        resource: w.ref.resource,
        claim: w.claimToken,
        user_id: w.userId,
        final: w.done !== null,
        full_listing: w.fullListing,
        poll_started_at: w.pollStartedAt.toISOString(),
        page_token: w.next?.pageToken ?? null,
        lease_ms: w.next?.leaseMs ?? null,
        cursor: w.done?.cursor ?? null,
        next_poll_ms: w.done?.nextPollInMs ?? null,
        before: w.before,
        skipped: w.skipped,
        event_id: e?.id ?? null,
        subject: e?.subject ?? null,
        type: e?.type ?? null,
      }).slice(0, -1) + // the event's payload and trace are JSON already: spliced in, not re-encoded
        `,"payload":${e?.payload ?? "null"},"trace":${e?.traceHeaders ?? "null"}}`,
    );
    for (const r of w.records) {
      if (r.payloadJson.includes(PAYLOAD_SEPARATOR)) {
        throw new Error(`record ${r.externalId}: its payload text holds a raw U+001E, so it is not JSON`);
      }
      records.row(k, uuidv7(), quoted(r.externalId), r.occurredAt === null ? "NULL" : r.occurredAt.getTime());
      payloads.push(r.payloadJson);
    }
    for (const c of w.communications) {
      comms.row(
        k,
        c.id,
        quoted(c.externalId),
        quoted(c.email),
        c.channel,
        c.direction,
        c.occurredAt.getTime(),
      );
    }
  });
  const anyGone = writes.some((w) => w.done !== null && w.fullListing);
  const anyComms = comms.size > 0;
  const anyFinal = writes.some((w) => w.done !== null);

  // Every access to a large table goes through an index, whatever the planner believes of the
  // JSON inputs (it guesses 100 rows for any jsonb_to_recordset): per-row lookups are LATERAL
  // sub-queries that cannot be flattened (OFFSET 0), and updates find their rows by primary key
  // from an array. A hash join against a full scan of raw_records per batch would grow with the
  // table.
  const ctes: string[] = [
    `pages AS MATERIALIZED (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS p(
         k int, connection_id uuid, platform text, resource text, claim text, user_id uuid, final boolean,
         full_listing boolean, poll_started_at timestamptz, page_token text, lease_ms float8, cursor text,
         next_poll_ms float8, before jsonb, skipped int, event_id uuid, subject text, type text, payload jsonb, trace jsonb)
     )`,
    `held AS MATERIALIZED (
       SELECT p.k FROM pages p
       CROSS JOIN LATERAL (
         SELECT 1 FROM sync_states s
         WHERE s.connection_id = p.connection_id AND s.platform = p.platform AND s.resource = p.resource
           AND s.claimed_by = p.claim
         OFFSET 0 FOR UPDATE OF s) l
     )`,
    // Each payload parsed once (OFFSET 0: the sub-query is not flattened into two casts).
    `input AS MATERIALIZED (
       SELECT t.k, t.id, p.connection_id, p.platform, p.resource, t.external_id,
              ${contentHashSql("t.payload")} AS content_hash, t.occurred_at, t.payload
       FROM (
         SELECT r.k, r.id, r.external_id, to_timestamp(r.occurred_ms / 1000) AS occurred_at, r.payload_text::jsonb AS payload
         FROM unnest($2::int[], $3::uuid[], $4::text[], $5::float8[], string_to_array($6::text, E'\\x1e'))
           AS r(k, id, external_id, occurred_ms, payload_text)
         OFFSET 0) t
       JOIN held h ON h.k = t.k JOIN pages p ON p.k = t.k
     )`,
    // Each record's current row, if any: looked up once, then inserted, updated or touched. No
    // ON CONFLICT (its speculative insertion cost about 3 µs more per new record): only this
    // statement's poll writes the resource's records — every write is guarded by `held`, the
    // sync state's row lock — so nothing can insert the same key meanwhile, and should anything
    // ever do so, the unique index refuses it rather than storing it twice.
    `existing AS MATERIALIZED (
       SELECT i.k, i.external_id, x.id, x.changed
       FROM input i
       CROSS JOIN LATERAL (
         SELECT r.id, (r.content_hash IS DISTINCT FROM i.content_hash OR r.deleted_at IS NOT NULL) AS changed
         FROM raw_records r
         WHERE r.connection_id = i.connection_id AND r.platform = i.platform AND r.resource = i.resource
           AND r.external_id = i.external_id
         OFFSET 0) x
     )`,
    `inserted AS (
       INSERT INTO raw_records AS r
         (id, connection_id, platform, resource, external_id, payload, content_hash, occurred_at,
          first_seen_at, updated_at, last_seen_at)
       SELECT i.id, i.connection_id, i.platform, i.resource, i.external_id, i.payload, i.content_hash, i.occurred_at,
              now(), now(), now()
       FROM input i
       WHERE NOT EXISTS (SELECT 1 FROM existing e WHERE e.k = i.k AND e.external_id = i.external_id)
       RETURNING r.id, r.connection_id, r.platform, r.resource, r.external_id
     )`,
    `updated AS (
       UPDATE raw_records AS r
       SET payload = u.payload, content_hash = u.content_hash, occurred_at = u.occurred_at,
           updated_at = now(), last_seen_at = now(), deleted_at = NULL
       FROM (SELECT e.id, i.payload, i.content_hash, i.occurred_at
             FROM existing e JOIN input i ON i.k = e.k AND i.external_id = e.external_id
             WHERE e.changed) u
       WHERE r.id = u.id AND r.id = ANY (ARRAY(SELECT e.id FROM existing e WHERE e.changed))
       RETURNING r.id, r.connection_id, r.platform, r.resource, r.external_id
     )`,
    `touched AS (
       UPDATE raw_records AS r SET last_seen_at = now()
       WHERE r.id = ANY (ARRAY(SELECT e.id FROM existing e WHERE NOT e.changed))
       RETURNING r.id, r.connection_id, r.platform, r.resource, r.external_id
     )`,
    `seen AS MATERIALIZED (
       SELECT p.k, x.id, x.external_id, x.inserted, x.changed
       FROM (SELECT id, connection_id, platform, resource, external_id, true AS inserted, true AS changed FROM inserted
             UNION ALL
             SELECT id, connection_id, platform, resource, external_id, false, true FROM updated
             UNION ALL
             SELECT id, connection_id, platform, resource, external_id, false, false FROM touched) x
       JOIN pages p ON p.connection_id = x.connection_id AND p.platform = x.platform AND p.resource = x.resource
     )`,
    `seen_counts AS (
       SELECT k, count(*) FILTER (WHERE inserted)::int AS added,
              count(*) FILTER (WHERE changed AND NOT inserted)::int AS updated,
              count(*) FILTER (WHERE NOT changed)::int AS unchanged
       FROM seen GROUP BY k
     )`,
  ];
  if (anyGone) {
    ctes.push(`gone AS (
       UPDATE raw_records AS r SET deleted_at = now(), updated_at = now()
       WHERE r.id = ANY (ARRAY(
         SELECT x.id FROM pages p
         JOIN held h ON h.k = p.k
         CROSS JOIN LATERAL (
           SELECT r2.id, r2.external_id FROM raw_records r2
           WHERE r2.connection_id = p.connection_id AND r2.platform = p.platform AND r2.resource = p.resource
             AND r2.deleted_at IS NULL AND r2.last_seen_at < p.poll_started_at
           OFFSET 0) x
         WHERE p.final AND p.full_listing
           AND NOT EXISTS (SELECT 1 FROM input i WHERE i.k = p.k AND i.external_id = x.external_id)))
       RETURNING r.connection_id, r.platform, r.resource
     )`);
    ctes.push(`gone_counts AS (
       SELECT p.k, count(*)::int AS deleted
       FROM gone g JOIN pages p ON p.connection_id = g.connection_id AND p.platform = g.platform AND p.resource = g.resource
       GROUP BY p.k
     )`);
  }
  if (anyComms) {
    ctes.push(`comms AS (
       INSERT INTO communication_events
         (id, user_id, contact_id, connection_id, raw_record_id, channel, direction, occurred_at)
       SELECT c.id, p.user_id, ct.id, p.connection_id, s.id, c.channel, c.direction, c.occurred_at
       FROM (
         SELECT c.k, c.id, c.external_id, c.email, c.channel, c.direction, to_timestamp(c.occurred_ms / 1000) AS occurred_at
         FROM unnest($7::int[], $8::uuid[], $9::text[], $10::text[], $11::text[], $12::text[], $13::float8[])
           AS c(k, id, external_id, email, channel, direction, occurred_ms)) c
       JOIN pages p ON p.k = c.k
       JOIN seen s ON s.k = c.k AND s.external_id = c.external_id
       CROSS JOIN LATERAL (
         SELECT ct.id FROM contacts ct WHERE ct.user_id = p.user_id AND ct.email = c.email OFFSET 0) ct
       -- A record inserted by this statement has no events yet; one seen before may (once per
       -- contact). No ON CONFLICT, for the reason given at "existing".
       WHERE s.inserted OR NOT EXISTS (
         SELECT 1 FROM communication_events e WHERE e.raw_record_id = s.id AND e.contact_id = ct.id)
       RETURNING raw_record_id
     )`);
    // Each created event's page, looked up in a record id → page map: a join of the two CTEs is
    // planned as a nested loop over both (their row counts are unknown to the planner), which
    // costs (events × records) comparisons per batch — most of the statement for a large batch.
    // (The map is an InitPlan: computed once, then a binary search per event.)
    ctes.push(`comm_counts AS (
       SELECT ((SELECT jsonb_object_agg(s.id::text, s.k) FROM seen s) ->> c.raw_record_id::text)::int AS k,
              count(*)::int AS comms
       FROM comms c
       GROUP BY 1
     )`);
  }
  ctes.push(`totals AS (
     SELECT h.k, p.final,
       coalesce(sc.added, 0) AS added, coalesce(sc.updated, 0) AS updated, coalesce(sc.unchanged, 0) AS unchanged,
       ${anyGone ? "coalesce(gc.deleted, 0)" : "0"} AS deleted, ${anyComms ? "coalesce(cc.comms, 0)" : "0"} AS comms,
       jsonb_build_object(
         'added', (p.before->>'added')::int + coalesce(sc.added, 0),
         'updated', (p.before->>'updated')::int + coalesce(sc.updated, 0),
         'unchanged', (p.before->>'unchanged')::int + coalesce(sc.unchanged, 0),
         'deleted', (p.before->>'deleted')::int + ${anyGone ? "coalesce(gc.deleted, 0)" : "0"},
         'skipped', coalesce((p.before->>'skipped')::int, 0) + coalesce(p.skipped, 0),
         'communicationEvents', (p.before->>'communicationEvents')::int + ${anyComms ? "coalesce(cc.comms, 0)" : "0"}
       ) AS counts
     FROM held h JOIN pages p ON p.k = h.k
     LEFT JOIN seen_counts sc ON sc.k = h.k
     ${anyGone ? "LEFT JOIN gone_counts gc ON gc.k = h.k" : ""}
     ${anyComms ? "LEFT JOIN comm_counts cc ON cc.k = h.k" : ""}
   )`);
  ctes.push(`state AS (
     UPDATE sync_states s
     SET page_token = CASE WHEN p.final THEN NULL ELSE p.page_token END,
         full_listing = CASE WHEN p.final THEN false ELSE p.full_listing END,
         poll_counts = CASE WHEN p.final THEN '{}'::jsonb ELSE t.counts END,
         cursor = CASE WHEN p.final THEN p.cursor ELSE s.cursor END,
         next_poll_at = CASE WHEN p.final THEN now() + make_interval(secs => p.next_poll_ms / 1000) ELSE s.next_poll_at END,
         last_polled_at = CASE WHEN p.final THEN now() ELSE s.last_polled_at END,
         last_success_at = CASE WHEN p.final THEN now() ELSE s.last_success_at END,
         consecutive_failures = CASE WHEN p.final THEN 0 ELSE s.consecutive_failures END,
         last_error = CASE WHEN p.final THEN NULL ELSE s.last_error END,
         last_error_kind = CASE WHEN p.final THEN NULL ELSE s.last_error_kind END,
         claimed_until = CASE WHEN p.final THEN NULL ELSE now() + make_interval(secs => p.lease_ms / 1000) END,
         claimed_by = CASE WHEN p.final THEN NULL ELSE s.claimed_by END,
         updated_at = now()
     FROM pages p JOIN totals t ON t.k = p.k
     WHERE s.connection_id = p.connection_id AND s.platform = p.platform AND s.resource = p.resource
       -- By primary key from an array: the join alone is planned as a full scan of sync_states.
       AND s.connection_id = ANY (ARRAY(SELECT p2.connection_id FROM pages p2 JOIN held h2 ON h2.k = p2.k))
     RETURNING 1
   )`);
  if (anyFinal) {
    // Connections are locked in id order first: concurrent batches touching the same connections
    // (two resources of one account) then wait for each other instead of deadlocking.
    ctes.push(`synced AS (
       UPDATE connections c SET last_synced_at = now()
       WHERE c.id = ANY (ARRAY(
         SELECT c2.id FROM connections c2
         WHERE c2.id = ANY (ARRAY(SELECT p.connection_id FROM pages p JOIN totals t ON t.k = p.k WHERE p.final))
         ORDER BY c2.id FOR NO KEY UPDATE))
       RETURNING 1
     )`);
    ctes.push(`outbox AS (
       INSERT INTO outbox_events (id, subject, type, payload, trace_headers)
       SELECT p.event_id, p.subject, p.type,
              jsonb_set(jsonb_set(p.payload, '{data,counts}',
                                  -- skipped is optional in data.ingested: absent when nothing was skipped
                                  CASE WHEN (t.counts->>'skipped')::int > 0 THEN t.counts - 'communicationEvents'
                                       ELSE t.counts - 'communicationEvents' - 'skipped' END),
                        '{data,communicationEventsCreated}', t.counts -> 'communicationEvents'),
              p.trace
       FROM pages p JOIN totals t ON t.k = p.k
       WHERE p.final
       ON CONFLICT (id) DO NOTHING
       RETURNING 1
     )`);
  }
  // A prepared statement per shape (a handful): the planner sees it once per connection.
  const shape = `${anyFinal ? "f" : ""}${anyGone ? "g" : ""}${anyComms ? "c" : ""}`;
  const { rows } = await db.query<{
    k: number;
    added: number;
    updated: number;
    unchanged: number;
    deleted: number;
    comms: number;
    counts: PollTotals;
  }>({
    name: `poller-write-pages-${shape}`,
    text: `WITH ${ctes.join(",\n")}
     SELECT k, added, updated, unchanged, deleted, comms, counts FROM totals`,
    values: [
      joinFlat(pages, ",", "[", "]"),
      ...records.arrays(),
      // Null for a batch without records: string_to_array('') is an empty array, not one payload.
      payloads.length > 0 ? payloads.join(PAYLOAD_SEPARATOR) : null,
      ...(anyComms ? comms.arrays() : []),
    ],
  });
  const byPage = new Map(rows.map((row) => [row.k, row]));
  return writes.map((w, k): PageResult => {
    const row = byPage.get(k);
    if (!row) return { held: false, page: zeroTotals(), totals: w.before };
    return {
      held: true,
      page: {
        added: row.added,
        updated: row.updated,
        unchanged: row.unchanged,
        deleted: row.deleted,
        skipped: w.skipped,
        communicationEvents: row.comms,
      },
      totals: row.counts,
    };
  });
}

/**
 * `open + texts.join(separator) + close` as one flat string. The obvious template literal is a
 * rope of three parts, which node-postgres flattens — copies, into a freshly allocated string as
 * large as the batch (hundreds of kB) — when it measures the parameter's bytes: ten times the cost
 * of measuring a flat one. (Takes over `texts`: its first and last elements get `open`/`close`.)
 */
function joinFlat(texts: Array<string | number>, separator: string, open: string, close: string): string {
  if (texts.length === 0) return open + close;
  texts[0] = `${open}${texts[0]}`;
  texts[texts.length - 1] = `${texts[texts.length - 1]}${close}`;
  return texts.join(separator);
}

/**
 * Columns of rows as Postgres array literals (`{1,2}`, `{"a","b"}`), one per column, for
 * `unnest($1::int[], $2::text[], …)`. Values go in as they are written in the literal: numbers,
 * uuids, `NULL`, the fixed words of an enumeration, or `quoted()` text. (node-postgres quotes and
 * escapes every element of an array parameter, numbers included, with two regular expressions.)
 */
class ColumnsText {
  private readonly columns: Array<Array<string | number>>;
  size = 0;

  constructor(width: number) {
    this.columns = Array.from({ length: width }, () => []);
  }

  row(...values: Array<string | number>): void {
    values.forEach((value, i) => {
      (this.columns[i] as Array<string | number>).push(value);
    });
    this.size += 1;
  }

  arrays(): string[] {
    return this.columns.map((column) => joinFlat(column, ",", "{", "}"));
  }
}

/** Text as an element of an array literal: in double quotes, with `"` and `\` escaped. */
function quoted(text: string): string {
  return `"${/["\\]/.test(text) ? text.replace(/["\\]/g, "\\$&") : text}"`;
}
