import type { Context } from "@opentelemetry/api";
import { enqueueEvents } from "@syncwell/bus";
import type { AnyEvent, ConnectionStatus, HealthSubjectKind } from "@syncwell/contracts";
import { uuidv7 } from "@syncwell/contracts";
import { ColumnsText, joinFlat, type Queryable, quoted, withTransaction } from "@syncwell/db";
import type pg from "pg";
import type { Interaction } from "../domain/relationship-health.ts";
import type { Announced, Component } from "../domain/score.ts";

/**
 * The inputs of each kind of score, read from the tables the token service, the poller and the
 * CRM API write, and the score write: newer input wins, one history row per change, and the
 * `health.changed` announcement in the same transaction (outbox).
 *
 * `inputsAsOf` of a subject is when the newest row it was computed from was written; a write
 * applies only when it is newer than the stored one (or equal, and computed later: the same
 * inputs seen at a later time, which moves time-based components such as recency).
 */

const DAY_MS = 86_400_000;
/** The contact's usual frequency is taken over at most this many days up to now. */
export const BASELINE_DAYS = 365;

export type ConnectionInputs = {
  userId: string;
  status: ConnectionStatus;
  accessTokenExpiresAt: Date | null;
  tokenExpiresNever: boolean;
  failures: number;
  transientFailures: number;
  lastSyncedAt: Date | null;
  connectedAt: Date;
  /** A provider asked to wait until then (the retry time set after a transient failure). */
  rateLimitedUntil: Date | null;
  inputsAsOf: Date;
};

export async function loadConnectionInputs(
  db: Queryable,
  connectionId: string,
): Promise<ConnectionInputs | null> {
  return (await loadConnectionsInputs(db, [connectionId])).get(connectionId) ?? null;
}

/** `loadConnectionInputs` for many connections in one statement. */
export async function loadConnectionsInputs(
  db: Queryable,
  connectionIds: readonly string[],
): Promise<Map<string, ConnectionInputs>> {
  const out = new Map<string, ConnectionInputs>();
  if (connectionIds.length === 0) return out;
  const { rows } = await db.query<ConnectionInputs & { id: string }>(
    `SELECT c.id, c.user_id AS "userId", c.status, c.access_token_expires_at AS "accessTokenExpiresAt",
       c.token_expires_never AS "tokenExpiresNever", c.consecutive_failures AS failures,
       c.consecutive_transient_failures AS "transientFailures",
       nullif(greatest(c.last_synced_at, s.last_success), '-infinity') AS "lastSyncedAt",
       c.created_at AS "connectedAt",
       CASE WHEN c.consecutive_transient_failures > 0 THEN c.next_retry_at END AS "rateLimitedUntil",
       greatest(c.created_at, c.updated_at, c.last_refreshed_at, c.last_failure_at, c.last_synced_at,
                c.revoked_at, s.last_success, s.last_update) AS "inputsAsOf"
     FROM connections c
     LEFT JOIN LATERAL (
       SELECT coalesce(max(last_success_at), '-infinity') AS last_success, max(updated_at) AS last_update
       FROM sync_states WHERE connection_id = c.id
     ) s ON true
     WHERE c.id = ANY($1::uuid[])`,
    [connectionIds],
  );
  for (const { id, ...inputs } of rows) out.set(id, inputs);
  return out;
}

export type ContactInputs = {
  userId: string;
  /** Interactions within the scored window. */
  interactions: Interaction[];
  baselinePer30Days: number | null;
  meetingBaselinePer30Days: number | null;
  lastInteractionAt: Date | null;
  inputsAsOf: Date;
};

/**
 * A contact's interactions over `windowDays` up to `now`, its latest interaction ever, and its
 * usual frequency over the year up to now (null while its first interaction is more recent than
 * one window: too new to tell what is usual).
 */
export async function loadContactInputs(
  db: Queryable,
  contactId: string,
  options: { now: Date; windowDays: number },
): Promise<ContactInputs | null> {
  return (await loadContactsInputs(db, [contactId], options)).get(contactId) ?? null;
}

/** `loadContactInputs` for many contacts in one statement (each read through its own index range). */
export async function loadContactsInputs(
  db: Queryable,
  contactIds: readonly string[],
  options: { now: Date; windowDays: number },
): Promise<Map<string, ContactInputs>> {
  const { now, windowDays } = options;
  const out = new Map<string, ContactInputs>();
  if (contactIds.length === 0) return out;
  const { rows } = await db.query<{
    id: string;
    userId: string;
    contactAsOf: Date;
    first: Date | null;
    last: Date | null;
    total: number;
    meetings: number;
    eventsAsOf: Date | null;
    recent: [number, "inbound" | "outbound", "email" | "meeting"][];
  }>(
    `SELECT c.id, c.user_id AS "userId", greatest(c.created_at, c.updated_at) AS "contactAsOf",
       b.first, b.last, coalesce(b.total, 0) AS total, coalesce(b.meetings, 0) AS meetings,
       b.events_as_of AS "eventsAsOf", coalesce(b.recent, '[]') AS recent
     FROM contacts c
     LEFT JOIN LATERAL (
       SELECT min(e.occurred_at) FILTER (WHERE e.occurred_at >= $2::timestamptz - make_interval(days => $3)) AS first,
         max(e.occurred_at) AS last,
         count(*) FILTER (WHERE e.occurred_at >= $2::timestamptz - make_interval(days => $3))::int AS total,
         count(*) FILTER (WHERE e.occurred_at >= $2::timestamptz - make_interval(days => $3)
                            AND e.channel = 'meeting')::int AS meetings,
         max(e.created_at) AS events_as_of,
         json_agg(json_build_array(extract(epoch FROM e.occurred_at) * 1000, e.direction, e.channel))
           FILTER (WHERE e.occurred_at >= $2::timestamptz - make_interval(days => $4)) AS recent
       FROM communication_events e
       WHERE e.contact_id = c.id AND e.occurred_at <= $2
     ) b ON true
     WHERE c.id = ANY($1::uuid[])`,
    [contactIds, now, BASELINE_DAYS, windowDays],
  );
  for (const row of rows) {
    let baselinePer30Days: number | null = null;
    let meetingBaselinePer30Days: number | null = null;
    if (row.first !== null) {
      const spanDays = (now.getTime() - row.first.getTime()) / DAY_MS;
      if (spanDays >= windowDays) {
        baselinePer30Days = (row.total * 30) / spanDays;
        meetingBaselinePer30Days = (row.meetings * 30) / spanDays;
      }
    }
    const asOf = [row.contactAsOf, row.eventsAsOf].filter((d): d is Date => d !== null);
    out.set(row.id, {
      userId: row.userId,
      interactions: row.recent.map(([at, direction, channel]) => ({ at: Number(at), direction, channel })),
      baselinePer30Days,
      meetingBaselinePer30Days,
      lastInteractionAt: row.last,
      inputsAsOf: new Date(Math.max(...asOf.map((d) => d.getTime()))),
    });
  }
  return out;
}

export type DealInputs = {
  userId: string;
  status: "open" | "won" | "lost";
  stage: string;
  stageEnteredAt: Date;
  expectedCloseAt: Date | null;
  /** The close date as first set; null exactly when `expectedCloseAt` is. */
  originalExpectedCloseAt: Date | null;
  lastActivityAt: Date | null;
  inputsAsOf: Date;
};

/** A deal and the latest interaction (up to `now`) with any of its contacts. */
export async function loadDealInputs(db: Queryable, dealId: string, now: Date): Promise<DealInputs | null> {
  return (await loadDealsInputs(db, [dealId], now)).get(dealId) ?? null;
}

/** `loadDealInputs` for many deals in one statement. */
export async function loadDealsInputs(
  db: Queryable,
  dealIds: readonly string[],
  now: Date,
): Promise<Map<string, DealInputs>> {
  const out = new Map<string, DealInputs>();
  if (dealIds.length === 0) return out;
  const { rows } = await db.query<DealInputs & { id: string }>(
    `SELECT d.id, d.user_id AS "userId", d.status, d.stage, d.stage_entered_at AS "stageEnteredAt",
       d.expected_close_at AS "expectedCloseAt", d.original_expected_close_at AS "originalExpectedCloseAt",
       a.last AS "lastActivityAt",
       greatest(d.created_at, d.updated_at, a.links_as_of, a.events_as_of) AS "inputsAsOf"
     FROM deals d
     LEFT JOIN LATERAL (
       SELECT max(e.last) AS last, max(e.events_as_of) AS events_as_of, max(dc.created_at) AS links_as_of
       FROM deal_contacts dc
       LEFT JOIN LATERAL (
         SELECT max(occurred_at) AS last, max(created_at) AS events_as_of FROM communication_events
         WHERE contact_id = dc.contact_id AND occurred_at <= $2
       ) e ON true
       WHERE dc.deal_id = d.id
     ) a ON true
     WHERE d.id = ANY($1::uuid[])`,
    [dealIds, now],
  );
  for (const { id, ...inputs } of rows) out.set(id, inputs);
  return out;
}

/**
 * The open deals the given contacts take part in, each with one of those contacts (the first by
 * id). Read from the contacts' ids, each through the index on `deal_contacts (contact_id)` (a
 * LATERAL kept apart by `OFFSET 0`): as a join, or with `contact_id = ANY(...)`, Postgres scanned
 * every deal's contacts for a batch's few hundred (docs/decisions/0017).
 */
export async function openDealsOfContacts(
  db: Queryable,
  contactIds: readonly string[],
): Promise<Array<{ dealId: string; contactId: string }>> {
  if (contactIds.length === 0) return [];
  const { rows } = await db.query<{ dealId: string; contactId: string }>(
    `SELECT DISTINCT ON (d.id) d.id AS "dealId", dc.contact_id AS "contactId"
     FROM unnest($1::uuid[]) AS k(contact_id)
     CROSS JOIN LATERAL (
       SELECT deal_id, contact_id FROM deal_contacts WHERE contact_id = k.contact_id OFFSET 0
     ) dc
     JOIN deals d ON d.id = dc.deal_id
     WHERE d.status = 'open' ORDER BY d.id, dc.contact_id`,
    [contactIds],
  );
  return rows;
}

/**
 * What the sweep records with each score it writes, instead of in a statement of its own after
 * the batch: the score was attempted in this run (`last_attempt_at`), and the claim of
 * `releaseClaimsOf` (this replica) on it is released. A subject whose score is not written
 * (failed, older, gone) keeps the sweep's own handling.
 */
export type SweepMarks = { releaseClaimsOf: string | null };

/** One computed score, as stored. */
export type ScoreWrite = {
  subjectType: HealthSubjectKind;
  subjectId: string;
  userId: string;
  score: number;
  status: string;
  components: readonly Component[];
  inputsFrom: Date;
  inputsTo: Date;
  inputsAsOf: Date;
  computedAt: Date;
};

export type WriteOutcome =
  /** Stored; `changed` when the score or status differs from the stored one (a history row was written). */
  | { written: true; changed: boolean; announced: boolean }
  /** Not stored: a score from newer inputs is already there, or the subject is gone. */
  | { written: false; reason: "older" | "gone" };

const SUBJECT_TABLE: Record<HealthSubjectKind, string> = {
  connection: "connections",
  contact: "contacts",
  deal: "deals",
};

type StoredScore = {
  score: number;
  status: string;
  /** The score last announced (null: none yet). */
  announcedScore: number | null;
  inputsAsOf: Date;
  computedAt: Date;
};

/** What a new score is compared with to decide on announcing it: the last announced one. */
function announcedBaseline(stored: StoredScore): Announced {
  return { score: stored.announcedScore ?? stored.score, status: stored.status };
}

function isNewer(write: ScoreWrite, stored: StoredScore): boolean {
  const a = write.inputsAsOf.getTime();
  const b = stored.inputsAsOf.getTime();
  return a > b || (a === b && write.computedAt.getTime() > stored.computedAt.getTime());
}

/**
 * Stores one score as `writeScores` does (one transaction): replaced only by newer inputs, a
 * history row for a change, and `announce(previous)` deciding on a `health.changed` against the
 * score last announced (null: nothing to announce).
 */
export async function writeScore(
  pool: pg.Pool,
  write: ScoreWrite,
  announce: (previous: Announced | null) => AnyEvent | null,
  options: { contextOf?: (event: AnyEvent) => Context | undefined } = {},
): Promise<WriteOutcome> {
  const [outcome] = await writeScores(pool, [write], (_write, previous) => announce(previous), options);
  return outcome ?? { written: false, reason: "gone" };
}

/** One key per scored subject ("<kind>:<id>"), for maps and sets of subjects. */
export const subjectKey = (s: { subjectType: string; subjectId: string }): string =>
  `${s.subjectType}:${s.subjectId}`;

/** The subject types and ids of writes as two array literals, for `unnest($1::text[], $2::uuid[])`. */
function keyColumns(writes: readonly ScoreWrite[]): string[] {
  const columns = new ColumnsText(2);
  for (const w of writes) columns.row(quoted(w.subjectType), w.subjectId);
  return columns.arrays();
}

/** Which of `writes` have a stored score, read without locks (writeScores says why that is enough). */
async function scoredSubjects(client: pg.PoolClient, writes: readonly ScoreWrite[]): Promise<Set<string>> {
  const { rows } = await client.query<{ subjectType: string; subjectId: string }>(
    `SELECT h.subject_type AS "subjectType", h.subject_id AS "subjectId"
     FROM health_scores h JOIN unnest($1::text[], $2::uuid[]) AS w(subject_type, subject_id)
       ON h.subject_type = w.subject_type AND h.subject_id = w.subject_id`,
    keyColumns(writes),
  );
  return new Set(rows.map(subjectKey));
}

/** The subjects (connection, contact, deal rows of the write's user) that still exist, locked FOR KEY SHARE in key order. */
async function lockLiveSubjects(client: pg.PoolClient, writes: readonly ScoreWrite[]): Promise<Set<string>> {
  const live = new Set<string>();
  for (const kind of Object.keys(SUBJECT_TABLE) as HealthSubjectKind[]) {
    const ofKind = writes.filter((w) => w.subjectType === kind);
    if (ofKind.length === 0) continue;
    const { rows } = await client.query<{ id: string }>(
      `SELECT t.id FROM ${SUBJECT_TABLE[kind]} t
       JOIN unnest($1::uuid[], $2::uuid[]) AS w(id, user_id) ON t.id = w.id AND t.user_id = w.user_id
       ORDER BY t.id FOR KEY SHARE OF t`,
      [ofKind.map((w) => w.subjectId), ofKind.map((w) => w.userId)],
    );
    for (const r of rows) live.add(`${kind}:${r.id}`);
  }
  return live;
}

/** Locks the stored scores of `writes` FOR UPDATE in key order, adding them to `stored`. */
async function lockStoredScores(
  client: pg.PoolClient,
  writes: readonly ScoreWrite[],
  stored: Map<string, StoredScore>,
): Promise<void> {
  if (writes.length === 0) return;
  const { rows } = await client.query<StoredScore & { subjectType: string; subjectId: string }>(
    `SELECT h.subject_type AS "subjectType", h.subject_id AS "subjectId", h.score, h.status,
       h.announced_score AS "announcedScore", h.inputs_as_of AS "inputsAsOf", h.computed_at AS "computedAt"
     FROM health_scores h JOIN unnest($1::text[], $2::uuid[]) AS w(subject_type, subject_id)
       ON h.subject_type = w.subject_type AND h.subject_id = w.subject_id
     ORDER BY h.subject_type, h.subject_id FOR UPDATE OF h`,
    keyColumns(writes),
  );
  for (const r of rows) stored.set(subjectKey(r), r);
}

/** The Postgres types of the columns of a batch write's rows. */
type ColumnType = "text" | "uuid" | "smallint" | "boolean" | "timestamptz" | "jsonb";

/** A column of a batch write's rows (the score's own or one a statement adds), with its value for each write. */
type RowColumn = { name: string; type: ColumnType; value: (write: ScoreWrite) => unknown };

const SCORE_COLUMNS: RowColumn[] = [
  { name: "subject_type", type: "text", value: (w) => w.subjectType },
  { name: "subject_id", type: "uuid", value: (w) => w.subjectId },
  { name: "user_id", type: "uuid", value: (w) => w.userId },
  { name: "score", type: "smallint", value: (w) => w.score },
  { name: "status", type: "text", value: (w) => w.status },
  { name: "components", type: "jsonb", value: (w) => w.components },
  { name: "inputs_from", type: "timestamptz", value: (w) => w.inputsFrom },
  { name: "inputs_to", type: "timestamptz", value: (w) => w.inputsTo },
  { name: "inputs_as_of", type: "timestamptz", value: (w) => w.inputsAsOf },
  { name: "computed_at", type: "timestamptz", value: (w) => w.computedAt },
];

/** One value as an element of an array literal of its column's type (see ColumnsText). */
function arrayElement(type: Exclude<ColumnType, "jsonb">, value: unknown): string | number {
  if (value === null || value === undefined) return "NULL";
  switch (type) {
    case "text":
      return quoted(value as string);
    case "uuid":
      return value as string;
    case "smallint":
      return value as number;
    case "boolean":
      return value ? "t" : "f";
    case "timestamptz":
      return (value as Date).toISOString();
  }
}

/**
 * The rows of a batch write as parallel arrays read side by side (`ROWS FROM`), a parameter per
 * column: the score columns and `extra` ones. The statements read it as CTE `w`, so a score and
 * its history row go in from one copy of the components. Each column goes as an array literal
 * built here (`@syncwell/db`'s array literals: node-postgres would quote every element and write
 * every date piece by piece), a jsonb column as one JSON array read by `jsonb_array_elements` (not
 * an array literal of documents, whose every quote would be escaped). (Not one JSON document of whole rows read by
 * json_to_recordset: that costs Postgres several times more per row; docs/decisions/0017.)
 */
function scoreRows(
  writes: readonly ScoreWrite[],
  extra: readonly RowColumn[] = [],
): { sql: string; params: unknown[] } {
  const columns = [...SCORE_COLUMNS, ...extra];
  const readers = columns
    .map((c, i) =>
      c.type === "jsonb" ? `jsonb_array_elements($${i + 1}::jsonb)` : `unnest($${i + 1}::${c.type}[])`,
    )
    .join(", ");
  const names = columns.map((c) => c.name).join(", ");
  return {
    sql: `ROWS FROM (${readers}) AS w(${names})`,
    params: columns.map((c) => {
      const { type } = c;
      if (type === "jsonb") return JSON.stringify(writes.map(c.value));
      return joinFlat(
        writes.map((w) => arrayElement(type, c.value(w))),
        ",",
        "{",
        "}",
      );
    }),
  };
}

/** The history row of each written score that changed: `changed` names the rows of CTE `w` that did. */
const INSERT_HISTORY_FROM_W = `INSERT INTO health_score_history (id, subject_type, subject_id, user_id, score, status,
       previous_score, previous_status, components, computed_at)
     SELECT w.history_id, w.subject_type, w.subject_id, w.user_id, w.score, w.status,
       w.previous_score, w.previous_status, w.components, w.computed_at
     FROM w JOIN changed USING (subject_type, subject_id)`;

/**
 * Inserts the scores of subjects scored for the first time, each with its history row, in key
 * order as everything else here is locked: two batches inserting the same new subjects wait on
 * each other's uncommitted rows in one order, never in a cycle. Returns the keys inserted; a
 * subject another writer inserted first is locked and compared with theirs.
 */
async function insertFirstScores(
  client: pg.PoolClient,
  fresh: readonly ScoreWrite[],
  stored: Map<string, StoredScore>,
  sweep: SweepMarks | undefined,
): Promise<Set<string>> {
  const inserted = new Set<string>();
  if (fresh.length === 0) return inserted;
  const ordered = [...fresh].sort((a, b) =>
    subjectKey(a) < subjectKey(b) ? -1 : subjectKey(a) > subjectKey(b) ? 1 : 0,
  );
  const rows = scoreRows(ordered, [
    { name: "history_id", type: "uuid", value: () => uuidv7() },
    { name: "previous_score", type: "smallint", value: () => null },
    { name: "previous_status", type: "text", value: () => null },
    { name: "attempted", type: "boolean", value: () => sweep !== undefined },
  ]);
  const { rows: written } = await client.query<{ subjectType: string; subjectId: string }>(
    // A first score is always announced (shouldAnnounce): it is the subject's last announced one.
    `WITH w AS (SELECT * FROM ${rows.sql}),
     changed AS (
       INSERT INTO health_scores (subject_type, subject_id, user_id, score, status, components,
         inputs_from, inputs_to, inputs_as_of, computed_at, announced_score, last_attempt_at)
       SELECT subject_type, subject_id, user_id, score, status, components, inputs_from, inputs_to,
         inputs_as_of, computed_at, score, CASE WHEN attempted THEN now() END FROM w
       ON CONFLICT (subject_type, subject_id) DO NOTHING
       RETURNING subject_type, subject_id
     ),
     history AS (${INSERT_HISTORY_FROM_W})
     SELECT subject_type AS "subjectType", subject_id AS "subjectId" FROM changed`,
    rows.params,
  );
  for (const r of written) inserted.add(subjectKey(r));
  await lockStoredScores(
    client,
    ordered.filter((w) => !inserted.has(subjectKey(w))),
    stored,
  );
  return inserted;
}

type HistoryRow = { write: ScoreWrite; previous: Announced | null };

/** What each write does against the stored score: skipped (gone, older), an update, history, an announcement. */
function decideWrites(
  writes: readonly ScoreWrite[],
  state: { live: Set<string>; stored: Map<string, StoredScore>; inserted: Set<string> },
  announce: (write: ScoreWrite, previous: Announced | null) => AnyEvent | null,
): {
  outcomes: Map<string, WriteOutcome>;
  updates: ScoreWrite[];
  history: HistoryRow[];
  events: AnyEvent[];
  announced: ScoreWrite[];
} {
  const outcomes = new Map<string, WriteOutcome>();
  const updates: ScoreWrite[] = [];
  const history: HistoryRow[] = [];
  const events: AnyEvent[] = [];
  const announced: ScoreWrite[] = [];
  for (const w of writes) {
    const k = subjectKey(w);
    if (!state.live.has(k)) {
      outcomes.set(k, { written: false, reason: "gone" });
      continue;
    }
    const before = state.inserted.has(k) ? undefined : state.stored.get(k);
    if (before !== undefined && !isNewer(w, before)) {
      outcomes.set(k, { written: false, reason: "older" });
      continue;
    }
    if (before !== undefined) updates.push(w);
    const previous = before === undefined ? null : { score: before.score, status: before.status };
    const changed = previous === null || previous.score !== w.score || previous.status !== w.status;
    // A first score's history row goes in with it (insertFirstScores).
    if (changed && before !== undefined) history.push({ write: w, previous });
    const event = announce(w, before === undefined ? null : announcedBaseline(before));
    if (event) {
      events.push(event);
      announced.push(w);
    }
    outcomes.set(k, { written: true, changed, announced: event !== null });
  }
  return { outcomes, updates, history, events, announced };
}

/**
 * Stores newer scores, each changed one with its history row; those announced become their
 * subjects' last announced score too.
 */
async function updateScores(
  client: pg.PoolClient,
  updates: readonly ScoreWrite[],
  decided: { announced: ReadonlySet<ScoreWrite>; history: ReadonlyMap<ScoreWrite, HistoryRow> },
  sweep: SweepMarks | undefined,
): Promise<void> {
  if (updates.length === 0) return;
  const rows = scoreRows(updates, [
    { name: "announced", type: "boolean", value: (u) => decided.announced.has(u) },
    { name: "changed", type: "boolean", value: (u) => decided.history.has(u) },
    { name: "history_id", type: "uuid", value: (u) => (decided.history.has(u) ? uuidv7() : null) },
    {
      name: "previous_score",
      type: "smallint",
      value: (u) => decided.history.get(u)?.previous?.score ?? null,
    },
    { name: "previous_status", type: "text", value: (u) => decided.history.get(u)?.previous?.status ?? null },
    { name: "attempted", type: "boolean", value: () => sweep !== undefined },
    { name: "claimed_by_sweep", type: "text", value: () => sweep?.releaseClaimsOf ?? null },
  ]);
  await client.query(
    `WITH w AS (SELECT * FROM ${rows.sql}),
     updated AS (
       UPDATE health_scores h SET score = w.score, status = w.status, components = w.components,
         inputs_from = w.inputs_from, inputs_to = w.inputs_to, inputs_as_of = w.inputs_as_of,
         computed_at = w.computed_at, last_error = NULL,
         announced_score = CASE WHEN w.announced THEN w.score ELSE h.announced_score END,
         last_attempt_at = CASE WHEN w.attempted THEN now() ELSE h.last_attempt_at END,
         claimed_until = CASE WHEN h.claimed_by = w.claimed_by_sweep THEN NULL ELSE h.claimed_until END,
         claimed_by = CASE WHEN h.claimed_by = w.claimed_by_sweep THEN NULL ELSE h.claimed_by END
       FROM w
       WHERE h.subject_type = w.subject_type AND h.subject_id = w.subject_id AND h.user_id = w.user_id
       RETURNING h.subject_type, h.subject_id, w.changed
     ),
     changed AS (SELECT subject_type, subject_id FROM updated WHERE changed)
     ${INSERT_HISTORY_FROM_W}`,
    rows.params,
  );
}

/**
 * Stores scores of distinct subjects (at most a few hundred) in one transaction: the subjects of
 * first scores are locked FOR KEY SHARE (a subject deleted meanwhile is "gone", not a foreign key
 * error), then the stored scores FOR UPDATE, each in key order and in the order a subject's
 * deletion takes them (two transactions never wait on each other in a cycle);
 * a stored score is replaced only by newer inputs; one statement inserts the new scores and one
 * updates the others, each with the history rows of changes; `announce` decides on each
 * `health.changed` against the score last announced, and the announcements go to the outbox in the
 * same transaction. One failing row fails the batch: the caller retries its writes one by one.
 */
export async function writeScores(
  pool: pg.Pool,
  writes: readonly ScoreWrite[],
  announce: (write: ScoreWrite, previous: Announced | null) => AnyEvent | null,
  options: {
    contextOf?: (event: AnyEvent) => Context | undefined;
    /** The sweep's marks, set with each score written (see SweepMarks). */
    sweep?: SweepMarks;
    /**
     * The writes are expected to be first scores (the sweep's pass over unscored subjects): every
     * subject is locked without first reading which have a score. Still right for one that has
     * a score by now, only a lock more.
     */
    firstScores?: boolean;
  } = {},
): Promise<WriteOutcome[]> {
  if (writes.length === 0) return [];
  return withTransaction(pool, async (client): Promise<WriteOutcome[]> => {
    // Only a first score needs its subject locked: a stored score goes when its subject does, in
    // the transaction deleting the subject (trigger delete_health_of_subjects), so a score still
    // there once locked has its subject. Locking a row writes to its page; most writes update.
    const scored = options.firstScores ? new Set<string>() : await scoredSubjects(client, writes);
    const live = await lockLiveSubjects(
      client,
      writes.filter((w) => !scored.has(subjectKey(w))),
    );
    const stored = new Map<string, StoredScore>();
    await lockStoredScores(
      client,
      writes.filter((w) => scored.has(subjectKey(w)) || live.has(subjectKey(w))),
      stored,
    );
    // A subject whose score is still there is live; one whose score went since it was read above
    // was deleted meanwhile, and is gone.
    for (const key of stored.keys()) live.add(key);
    const inserted = await insertFirstScores(
      client,
      writes.filter((w) => live.has(subjectKey(w)) && !stored.has(subjectKey(w))),
      stored,
      options.sweep,
    );
    const decided = decideWrites(writes, { live, stored, inserted }, announce);
    await updateScores(
      client,
      decided.updates,
      { announced: new Set(decided.announced), history: new Map(decided.history.map((h) => [h.write, h])) },
      options.sweep,
    );
    await enqueueEvents(client, decided.events, options);
    return writes.map((w) => decided.outcomes.get(subjectKey(w)) ?? { written: false, reason: "gone" });
  });
}
