import type { Queryable } from "@syncwell/db";

/**
 * What data.ingested leads to: the contacts with communication events of the ingested connections
 * recorded since the scorer last looked (`health_ingest_marks`), read through the index on
 * (connection_id, created_at), and the marks moved past them once they are rescored.
 */

export type NewCommunication = {
  /** Contacts with events newer than their score's inputs (or without a score). */
  contactIds: string[];
  /** Per connection, the newest event read: the mark to store once the contacts are rescored. */
  newest: Map<string, Date>;
  /** Per contact behind, a connection whose events made it so. */
  causes: Map<string, string>;
};

/**
 * The contacts whose scores are behind the connections' communication events. Events are read
 * from `overlapMs` before each connection's mark (a page whose transaction started before the
 * mark may commit after it was read); a connection without a mark is read from `noMarkSinceMs`
 * back, as events older than that are either in a score computed after them or belong to a score
 * old enough for the sweep.
 */
export async function newCommunication(
  db: Queryable,
  connectionIds: readonly string[],
  options: { overlapMs: number; noMarkSinceMs: number; now: Date },
): Promise<NewCommunication> {
  const out: NewCommunication = { contactIds: [], newest: new Map(), causes: new Map() };
  if (connectionIds.length === 0) return out;
  const { rows } = await db.query<{ connectionId: string; contactId: string; newest: Date; behind: boolean }>(
    `WITH c AS (
       SELECT c.connection_id, coalesce(m.events_through - make_interval(secs => $2 / 1000.0),
                                        $3::timestamptz - make_interval(secs => $4 / 1000.0)) AS since
       FROM (SELECT DISTINCT unnest($1::uuid[]) AS connection_id) c
       LEFT JOIN health_ingest_marks m ON m.connection_id = c.connection_id
     ),
     -- LATERAL: each connection's range is read through the index on both columns.
     seen AS (
       SELECT c.connection_id, e.contact_id, e.newest
       FROM c CROSS JOIN LATERAL (
         SELECT contact_id, max(created_at) AS newest FROM communication_events
         WHERE connection_id = c.connection_id AND created_at >= c.since
         GROUP BY contact_id
       ) e
     )
     -- A lookup per contact (a join would read every score once the table is large).
     SELECT s.connection_id AS "connectionId", s.contact_id AS "contactId", s.newest,
       coalesce((SELECT h.inputs_as_of < s.newest FROM health_scores h
                 WHERE h.subject_type = 'contact' AND h.subject_id = s.contact_id), true) AS behind
     FROM seen s`,
    [connectionIds, options.overlapMs, options.now, options.noMarkSinceMs],
  );
  for (const row of rows) {
    if (row.behind && !out.causes.has(row.contactId)) out.causes.set(row.contactId, row.connectionId);
    const known = out.newest.get(row.connectionId);
    if (known === undefined || known < row.newest) out.newest.set(row.connectionId, row.newest);
  }
  out.contactIds = [...out.causes.keys()].sort();
  return out;
}

/** Moves the connections' marks forward (never back); a connection deleted meanwhile is skipped. */
export async function advanceMarks(db: Queryable, newest: ReadonlyMap<string, Date>): Promise<void> {
  if (newest.size === 0) return;
  const ids = [...newest.keys()].sort();
  await db.query(
    `INSERT INTO health_ingest_marks (connection_id, events_through)
     SELECT n.connection_id, n.events_through
     FROM unnest($1::uuid[], $2::timestamptz[]) AS n(connection_id, events_through)
     JOIN connections c ON c.id = n.connection_id
     ON CONFLICT (connection_id) DO UPDATE
       SET events_through = greatest(health_ingest_marks.events_through, excluded.events_through),
           updated_at = now()
       WHERE excluded.events_through > health_ingest_marks.events_through`,
    [ids, ids.map((id) => newest.get(id))],
  );
}
