import type { Queryable } from "@syncwell/db";
import { GRANTED_SQL, type ResourceSpec, resourceSpecsSql } from "./poll-claims.repository.ts";

/**
 * Writes to `sync_states` outside a page (a page's own state is written with its records, see
 * records.repository.ts). Those made during a poll name the claim (`claimed_by`) and return false
 * when it is no longer held (the lease lapsed and another replica took the row over).
 */

export type SyncStateKey = { connectionId: string; platform: string; resource: string };

/** What went wrong in the last poll, as stored in `last_error_kind`. */
export type ErrorKind =
  | "unauthorized"
  | "rate_limited"
  | "transient"
  | "malformed"
  | "permanent"
  | "cursor_expired"
  | "token";

const KEY_SQL = "connection_id = $1 AND platform = $2 AND resource = $3 AND claimed_by = $4";

function keyParams(key: SyncStateKey, claimToken: string): unknown[] {
  return [key.connectionId, key.platform, key.resource, claimToken];
}

/**
 * A poll that failed: the error, when to try again, and the claim released. `countsAsFailure`
 * false (a 401, a rate limit) leaves the failure streak alone. Returns false when the claim was lost.
 */
export async function recordFailure(
  db: Queryable,
  key: SyncStateKey,
  claimToken: string,
  failure: { kind: ErrorKind; message: string; retryInMs: number; countsAsFailure: boolean },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE sync_states
     SET consecutive_failures = consecutive_failures + CASE WHEN $8 THEN 1 ELSE 0 END,
         last_error = $5, last_error_kind = $6,
         next_poll_at = GREATEST(next_poll_at, now() + make_interval(secs => $7::float8 / 1000)),
         last_polled_at = now(), claimed_until = NULL, claimed_by = NULL, updated_at = now()
     WHERE ${KEY_SQL}`,
    [
      ...keyParams(key, claimToken),
      failure.message.slice(0, 1_000),
      failure.kind,
      failure.retryInMs,
      failure.countsAsFailure,
    ],
  );
  return rowCount === 1;
}

/**
 * Hands a claim back without an outcome (the token expires too soon, the replica is stopping, the
 * poll used up its page budget). Still due as before, unless `retryInMs` pushes it out.
 */
export async function releaseClaim(
  db: Queryable,
  key: SyncStateKey,
  claimToken: string,
  retryInMs?: number,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE sync_states
     SET claimed_until = NULL, claimed_by = NULL, updated_at = now(),
         next_poll_at = CASE WHEN $5::float8 IS NULL THEN next_poll_at
                             ELSE GREATEST(next_poll_at, now() + make_interval(secs => $5::float8 / 1000)) END
     WHERE ${KEY_SQL}`,
    [...keyParams(key, claimToken), retryInMs ?? null],
  );
  return rowCount === 1;
}

/** `paused_reason` of a resource whose connection no longer has any scope the resource needs. */
const SCOPE_MISSING = "scope_missing";

/**
 * The connection no longer grants the resource (the user narrowed the grant): the resource is
 * paused with the reason in `last_error`, its cursor and records kept, and the claim released —
 * rather than polled into a 403 every interval. `resumeGrantedResources` resumes it once the
 * scopes are back. Returns false when the claim was lost.
 */
export async function pauseForScopes(
  db: Queryable,
  key: SyncStateKey,
  claimToken: string,
  message: string,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE sync_states
     SET status = 'paused', paused_reason = $5, last_error = $6,
         claimed_until = NULL, claimed_by = NULL, updated_at = now()
     WHERE ${KEY_SQL}`,
    [...keyParams(key, claimToken), SCOPE_MISSING, message.slice(0, 1_000)],
  );
  return rowCount === 1;
}

/**
 * Resumes, due at once, the resources paused for a missing scope whose connection grants them
 * again (any of the resource's required scopes; only this connection when `connectionId` is
 * given). Walks the paused rows only. Returns how many were resumed.
 */
export async function resumeGrantedResources(
  db: Queryable,
  resources: readonly ResourceSpec[],
  options: { connectionId?: string } = {},
): Promise<number> {
  if (resources.length === 0) return 0;
  const { rowCount } = await db.query(
    `UPDATE sync_states s
     SET status = 'active', paused_reason = NULL, next_poll_at = LEAST(s.next_poll_at, now()), updated_at = now()
     FROM ${resourceSpecsSql("$1")}, connections c
     WHERE s.status = 'paused' AND s.paused_reason = $2
       AND s.platform = r.platform AND s.resource = r.resource
       AND c.id = s.connection_id AND c.provider = r.provider
       AND ${GRANTED_SQL}
       AND ($3::uuid IS NULL OR s.connection_id = $3::uuid)`,
    [JSON.stringify(resources), SCOPE_MISSING, options.connectionId ?? null],
  );
  return rowCount ?? 0;
}

/** The platform rejected the cursor: the poll starts over as a full listing (same claim). */
export async function resetCursor(
  db: Queryable,
  key: SyncStateKey,
  claimToken: string,
): Promise<Date | null> {
  const { rows } = await db.query<{ poll_started_at: Date }>(
    `UPDATE sync_states
     SET cursor = NULL, page_token = NULL, full_listing = false, poll_counts = '{}'::jsonb,
         poll_started_at = now(), updated_at = now()
     WHERE ${KEY_SQL}
     RETURNING poll_started_at`,
    keyParams(key, claimToken),
  );
  return rows[0]?.poll_started_at ?? null;
}

/**
 * Pauses a connection's active sync states (its grant is gone: needs_reauth, disconnected,
 * revoked), unless the connection is pollable again by now (events may arrive out of order: the
 * connection row decides). Returns how many were paused.
 */
export async function pauseConnection(db: Queryable, connectionId: string, reason: string): Promise<number> {
  const { rowCount } = await db.query(
    `UPDATE sync_states s
     SET status = 'paused', paused_reason = $2, updated_at = now()
     FROM connections c
     WHERE s.connection_id = $1 AND c.id = s.connection_id AND s.status = 'active'
       AND (c.status NOT IN ('connected', 'warning', 'rate_limited') OR c.revoked_at IS NOT NULL)`,
    [connectionId, reason],
  );
  return rowCount ?? 0;
}

/**
 * Resumes the sync states paused for a token reason once the connection is pollable again, due at
 * once; resources that were waiting after a 401 become due at once too. Returns how many changed.
 */
export async function resumeConnection(db: Queryable, connectionId: string): Promise<number> {
  const { rowCount } = await db.query(
    `UPDATE sync_states s
     SET status = 'active', paused_reason = NULL, next_poll_at = LEAST(s.next_poll_at, now()), updated_at = now()
     FROM connections c
     WHERE s.connection_id = $1 AND c.id = s.connection_id
       AND c.status IN ('connected', 'warning', 'rate_limited') AND c.revoked_at IS NULL
       AND ((s.status = 'paused' AND s.paused_reason LIKE 'token%')
         OR (s.status = 'active' AND s.last_error_kind = 'unauthorized' AND s.next_poll_at > now()))`,
    [connectionId],
  );
  return rowCount ?? 0;
}

/**
 * The connection's active resources (only those of `platform`, when given) wait at least until
 * `until`: a time (a transient token failure: until the refresh is retried), or `waitMs` from now
 * on the database clock (a rate limit of the connection's own token). Returns how many were delayed.
 */
export async function delayConnection(
  db: Queryable,
  connectionId: string,
  until: Date | { waitMs: number },
  platform?: string,
): Promise<number> {
  const { rowCount } = await db.query(
    `UPDATE sync_states
     SET next_poll_at = GREATEST(next_poll_at,
           coalesce($2::timestamptz, now() + make_interval(secs => $3::float8 / 1000))),
         updated_at = now()
     WHERE connection_id = $1 AND status = 'active' AND ($4::text IS NULL OR platform = $4::text)`,
    [
      connectionId,
      until instanceof Date ? until : null,
      until instanceof Date ? null : until.waitMs,
      platform ?? null,
    ],
  );
  return rowCount ?? 0;
}
