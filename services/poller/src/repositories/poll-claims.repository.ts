import type { ConnectionStatus } from "@syncwell/contracts";
import type { Queryable } from "@syncwell/db";

/**
 * Which sync states exist, which are due, and who polls them. Claims use `FOR UPDATE SKIP LOCKED`
 * and a lease (`claimed_until`, renewed with every page): replicas split the due rows without
 * waiting on each other, and a crashed replica's rows become claimable again when its lease lapses.
 * Each claim carries its own token in `claimed_by`, and every later write checks it, so a poll whose
 * lease lapsed (and was taken over) can no longer write anything.
 */

/** Connection statuses that are polled: a token problem is no reason to stop while the token is still valid. */
export const POLLABLE_STATUSES: readonly ConnectionStatus[] = ["connected", "warning", "rate_limited"];

/** Rate-limit bucket of a platform (shared with the HTTP layer and the claim query). */
export function bucketKeyOf(platform: string): string {
  return `poller:${platform}`;
}

/** A resource a connector offers, with what the connection needs for it. */
export type ResourceSpec = {
  /** The token service's provider whose connections have this resource. */
  provider: string;
  platform: string;
  resource: string;
  /** Any of these scopes; empty = always. */
  requiredScopes: readonly string[];
};

/** A claimed sync state with what a poll needs from its connection (ciphertext included: never log it). */
export type ClaimedSyncState = {
  connectionId: string;
  platform: string;
  resource: string;
  cursor: string | null;
  pageToken: string | null;
  fullListing: boolean;
  pollStartedAt: Date;
  pollCounts: Record<string, number>;
  consecutiveFailures: number;
  lastSuccessAt: Date | null;
  claimedBy: string;
  userId: string;
  userEmail: string;
  provider: string;
  providerAccountId: string | null;
  scopes: string[];
  accessTokenEncrypted: string | null;
  accessTokenExpiresAt: Date | null;
  tokenExpiresNever: boolean;
};

/**
 * The resources of a run as rows `r` (`$n` holds `JSON.stringify(resources)`), and the scope rule
 * on connection `c`: the resource needs no scope, or the connection has any of those it needs
 * (`grantsAnyOf` in domain/schedule.ts is the same rule, for a claimed row).
 */
export const resourceSpecsSql = (param: string): string =>
  `jsonb_to_recordset(${param}::jsonb) AS r(provider text, platform text, resource text, "requiredScopes" text[])`;
export const GRANTED_SQL = `(cardinality(r."requiredScopes") = 0 OR c.scopes && r."requiredScopes")`;

const POLLABLE_SQL = `c.status IN (${POLLABLE_STATUSES.map((s) => `'${s}'`).join(", ")}) AND c.revoked_at IS NULL`;

/**
 * Creates the missing sync states of pollable connections: one per resource their provider's
 * connectors offer and their scopes allow, due at `dueAt` (a run passes its start: they are due in
 * that run). Limited to one connection when `connectionId` is given. Returns how many were created.
 */
export async function ensureSyncStates(
  db: Queryable,
  resources: readonly ResourceSpec[],
  options: { connectionId?: string; dueAt?: Date } = {},
): Promise<number> {
  if (resources.length === 0) return 0;
  const params: unknown[] = [JSON.stringify(resources), options.dueAt ?? null];
  let filter = "";
  if (options.connectionId) {
    params.push(options.connectionId);
    filter = `AND c.id = $${params.length}`;
  }
  const { rowCount } = await db.query(
    `INSERT INTO sync_states (connection_id, platform, resource, next_poll_at)
     SELECT c.id, r.platform, r.resource, coalesce($2::timestamptz, now())
     FROM ${resourceSpecsSql("$1")}
     JOIN connections c ON c.provider = r.provider
     WHERE ${POLLABLE_SQL} ${filter}
       AND ${GRANTED_SQL}
       AND NOT EXISTS (
         SELECT 1 FROM sync_states s
         WHERE s.connection_id = c.id AND s.platform = r.platform AND s.resource = r.resource)
     ON CONFLICT DO NOTHING`,
    params,
  );
  return rowCount ?? 0;
}

export type ClaimOptions = {
  /** The platform claimed from (a lane per platform). */
  platform: string;
  /** Its resources this replica has connectors for. */
  resources: readonly string[];
  /** `healthy`: no failure since the last success; `failing`: the others, claimed only after them. */
  phase: "healthy" | "failing";
  limit: number;
  leaseMs: number;
  /** Unique per claim batch: `claimed_by`, checked by every later write. */
  claimToken: string;
  /** Tokens expiring sooner than this are left to wait for their refresh. */
  minValidityMs: number;
  /** Only rows due by then as well as by now (a run's horizon keeps it finite). */
  dueBy: Date;
  /** Only this connection (token.refreshed). */
  connectionId?: string;
};

/**
 * Claimable rows of one platform (its `$1`, resources `$2`): active, not claimed, the connection
 * pollable with a token valid for `$4` ms more, and the platform not blocked by a Retry-After (an
 * uncorrelated sub-query: evaluated once per claim).
 */
/** Connector platform keys (they are written into claim statements, so they are checked first). */
const PLATFORM_KEY = /^[a-z][a-z0-9_-]{0,63}$/;

const CLAIMABLE_SQL = `s.status = 'active' AND s.platform = $1 AND s.resource = ANY($2::text[])
    AND (s.claimed_until IS NULL OR s.claimed_until <= now())
    AND ${POLLABLE_SQL}
    AND c.access_token_encrypted IS NOT NULL
    AND (c.token_expires_never OR c.access_token_expires_at > now() + make_interval(secs => $4::float8 / 1000))
    AND NOT EXISTS (
      SELECT 1 FROM rate_limit_buckets b WHERE b.key = 'poller:' || $1 AND b.blocked_until > now())`;

/**
 * Claims up to `limit` due sync states of one platform, longest overdue first, within one phase
 * (the caller takes healthy rows before failing ones, so connections that keep failing never
 * starve healthy ones; each phase walks its own partial index in due order). The claim also opens
 * a poll where none is in progress (no page token): `poll_started_at` and the poll's counts start
 * afresh.
 */
export async function claimDue(db: Queryable, options: ClaimOptions): Promise<ClaimedSyncState[]> {
  const params: unknown[] = [
    options.platform,
    options.resources,
    options.limit,
    options.minValidityMs,
    options.leaseMs,
    options.claimToken,
    options.dueBy,
  ];
  let filter = "";
  if (options.connectionId) {
    params.push(options.connectionId);
    filter = `AND s.connection_id = $${params.length}`;
  }
  const phase = options.phase === "healthy" ? "s.consecutive_failures = 0" : "s.consecutive_failures > 0";
  // The platform is written into the statement (one prepared statement per platform and phase):
  // a generic plan with the platform as a parameter would not see that the partial due index of
  // that platform serves it, and would walk every platform's due rows instead.
  if (!PLATFORM_KEY.test(options.platform)) throw new Error(`invalid platform key "${options.platform}"`);
  const { rows } = await db.query<ClaimedSyncState>({
    name: `poller-claim-${options.platform}-${options.phase}${options.connectionId ? "-connection" : ""}`,
    text: `WITH due AS (
       SELECT s.connection_id, s.platform, s.resource
       FROM sync_states s JOIN connections c ON c.id = s.connection_id
       WHERE ${CLAIMABLE_SQL} AND s.platform = '${options.platform}' AND ${phase}
         AND s.next_poll_at <= LEAST(now(), $7::timestamptz) ${filter}
       ORDER BY s.next_poll_at
       LIMIT $3
       FOR UPDATE OF s SKIP LOCKED
     )
     UPDATE sync_states s
     SET claimed_until = now() + make_interval(secs => $5::float8 / 1000),
         claimed_by = $6,
         poll_started_at = CASE WHEN s.page_token IS NULL THEN now() ELSE coalesce(s.poll_started_at, now()) END,
         poll_counts = CASE WHEN s.page_token IS NULL THEN '{}'::jsonb ELSE s.poll_counts END,
         full_listing = CASE WHEN s.page_token IS NULL THEN false ELSE s.full_listing END,
         updated_at = now()
     FROM due, connections c, users u
     WHERE s.connection_id = due.connection_id AND s.platform = due.platform AND s.resource = due.resource
       AND c.id = s.connection_id AND u.id = c.user_id
     RETURNING s.connection_id AS "connectionId", s.platform, s.resource, s.cursor, s.page_token AS "pageToken",
       s.full_listing AS "fullListing", s.poll_started_at AS "pollStartedAt", s.poll_counts AS "pollCounts",
       s.consecutive_failures AS "consecutiveFailures", s.last_success_at AS "lastSuccessAt",
       s.claimed_by AS "claimedBy", c.user_id AS "userId", u.email AS "userEmail", c.provider,
       c.provider_account_id AS "providerAccountId", c.scopes,
       c.access_token_encrypted AS "accessTokenEncrypted", c.access_token_expires_at AS "accessTokenExpiresAt",
       c.token_expires_never AS "tokenExpiresNever"`,
    values: params,
  });
  return rows;
}

/**
 * When the next claimable row of a platform becomes due, if by `dueBy` (null when none): a run
 * waits for it rather than leaving it to the next tick. A blocked platform counts as due when its
 * block ends.
 */
export async function nextDueAt(
  db: Queryable,
  options: Pick<ClaimOptions, "platform" | "resources" | "minValidityMs" | "dueBy" | "connectionId">,
): Promise<Date | null> {
  const params: unknown[] = [options.platform, options.resources, options.dueBy, options.minValidityMs];
  let filter = "";
  if (options.connectionId) {
    params.push(options.connectionId);
    filter = `AND s.connection_id = $${params.length}`;
  }
  const { rows } = await db.query<{ at: Date | null }>(
    `SELECT CASE WHEN min(s.next_poll_at) IS NULL THEN NULL ELSE GREATEST(min(s.next_poll_at),
       (SELECT max(b.blocked_until) FROM rate_limit_buckets b WHERE b.key = 'poller:' || $1)) END AS at
     FROM sync_states s JOIN connections c ON c.id = s.connection_id
     WHERE s.status = 'active' AND s.platform = $1 AND s.resource = ANY($2::text[])
       AND (s.claimed_until IS NULL OR s.claimed_until <= now())
       AND ${POLLABLE_SQL}
       AND c.access_token_encrypted IS NOT NULL
       AND (c.token_expires_never OR c.access_token_expires_at > now() + make_interval(secs => $4::float8 / 1000))
       AND s.next_poll_at <= $3::timestamptz
       ${filter}`,
    params,
  );
  return rows[0]?.at ?? null;
}

/** Due resources left waiting because their connection's token expires too soon (they wait for token.refreshed). */
export async function countWaitingForToken(
  db: Queryable,
  options: { resourceKeys: readonly string[]; minValidityMs: number },
): Promise<{ resources: number; connections: number }> {
  const { rows } = await db.query<{ resources: number; connections: number }>(
    `SELECT count(*)::int AS resources, count(DISTINCT s.connection_id)::int AS connections
     FROM sync_states s JOIN connections c ON c.id = s.connection_id
     WHERE s.status = 'active' AND s.next_poll_at <= now() AND ${POLLABLE_SQL}
       AND (s.platform || '.' || s.resource) = ANY($1::text[])
       AND NOT (c.access_token_encrypted IS NOT NULL
         AND (c.token_expires_never OR c.access_token_expires_at > now() + make_interval(secs => $2::float8 / 1000)))`,
    [options.resourceKeys, options.minValidityMs],
  );
  return { resources: rows[0]?.resources ?? 0, connections: rows[0]?.connections ?? 0 };
}
