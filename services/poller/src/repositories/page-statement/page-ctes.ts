// The parts of the page statement about the pages themselves: their input, the claim guard, the
// poll's running totals, the sync state's resume point, and on a poll's last page the connection
// and the data.ingested outbox row. Each returns one `name AS (…)` of the WITH list (see
// statement.ts); the text is part of the prepared statement, so a change here changes its plan.

import type { PageStatementShape } from "./statement.ts";

/**
 * `pages`: one row per page of the batch (`k` is its position), from the JSON array in `$1`
 * (see parameters.ts, `pageJson`).
 */
export const pagesCte = (): string => `pages AS MATERIALIZED (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS p(
         k int, connection_id uuid, platform text, resource text, claim text, user_id uuid, final boolean,
         full_listing boolean, poll_started_at timestamptz, page_token text, lease_ms float8, cursor text,
         next_poll_ms float8, before jsonb, skipped int, event_id uuid, subject text, type text, payload jsonb, trace jsonb)
     )`;

/**
 * `held`: the pages whose poll still holds the claim, their sync states locked. Every write of a
 * page is guarded by it: a poll whose lease was taken over writes nothing.
 */
export const heldCte = (): string => `held AS MATERIALIZED (
       SELECT p.k FROM pages p
       CROSS JOIN LATERAL (
         SELECT 1 FROM sync_states s
         WHERE s.connection_id = p.connection_id AND s.platform = p.platform AND s.resource = p.resource
           AND s.claimed_by = p.claim
         OFFSET 0 FOR UPDATE OF s) l
     )`;

/** The part of a count that a CTE absent from this shape would have given: none. */
const countOf = (present: boolean, column: string): string => (present ? `coalesce(${column}, 0)` : "0");

/**
 * `totals`: per held page, what it stored and the poll's running totals (the earlier pages'
 * totals plus this page's). Only held pages have a row, so the statement's result names the pages
 * that were written.
 */
export const totalsCte = (shape: PageStatementShape): string => `totals AS (
     SELECT h.k, p.final,
       coalesce(sc.added, 0) AS added, coalesce(sc.updated, 0) AS updated, coalesce(sc.unchanged, 0) AS unchanged,
       ${countOf(shape.gone, "gc.deleted")} AS deleted, ${countOf(shape.comms, "cc.comms")} AS comms,
       jsonb_build_object(
         'added', (p.before->>'added')::int + coalesce(sc.added, 0),
         'updated', (p.before->>'updated')::int + coalesce(sc.updated, 0),
         'unchanged', (p.before->>'unchanged')::int + coalesce(sc.unchanged, 0),
         'deleted', (p.before->>'deleted')::int + ${countOf(shape.gone, "gc.deleted")},
         'skipped', coalesce((p.before->>'skipped')::int, 0) + coalesce(p.skipped, 0),
         'communicationEvents', (p.before->>'communicationEvents')::int + ${countOf(shape.comms, "cc.comms")}
       ) AS counts
     FROM held h JOIN pages p ON p.k = h.k
     LEFT JOIN seen_counts sc ON sc.k = h.k
     ${shape.gone ? "LEFT JOIN gone_counts gc ON gc.k = h.k" : ""}
     ${shape.comms ? "LEFT JOIN comm_counts cc ON cc.k = h.k" : ""}
   )`;

/**
 * `state`: the sync state of each held page, in the same statement as its records. A page with
 * more to come saves the resume point (page token, running totals) and renews the lease; a poll's
 * last page saves the cursor and the next due time, clears the failure streak and releases the
 * claim.
 */
export const stateCte = (): string => `state AS (
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
   )`;

/**
 * `synced`: the connection's `last_synced_at`, on a poll's last page. The connections are locked
 * in id order first: concurrent batches touching the same connections (two resources of one
 * account) then wait for each other instead of deadlocking.
 */
export const syncedCte = (): string => `synced AS (
       UPDATE connections c SET last_synced_at = now()
       WHERE c.id = ANY (ARRAY(
         SELECT c2.id FROM connections c2
         WHERE c2.id = ANY (ARRAY(SELECT p.connection_id FROM pages p JOIN totals t ON t.k = p.k WHERE p.final))
         ORDER BY c2.id FOR NO KEY UPDATE))
       RETURNING 1
     )`;

/**
 * `outbox`: the data.ingested event of a poll's last page, its counts filled in from the poll's
 * totals (the poller sends the event with zero counts).
 */
export const outboxCte = (): string => `outbox AS (
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
     )`;
