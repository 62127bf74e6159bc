import type { ConnectionStatus } from "@syncwell/contracts";
import type { Queryable } from "@syncwell/db";

/**
 * Claiming connections for refresh, across replicas, with `FOR UPDATE SKIP LOCKED`: a claim sets
 * `refresh_claimed_until = now() + lease` and `refresh_claimed_by = <replica>` and commits at once
 * (one statement). Claimed rows are invisible to every other claimer until the lease runs out, so a
 * crashed replica's claims are simply taken over by the next claimer after the lease.
 *
 * The due condition is evaluated under the row lock (READ COMMITTED re-checks it on the newest row
 * version), so a connection that another worker refreshed a moment ago (expiry moved past the lead
 * window) is not claimed again.
 */

export type ClaimedConnection = {
  id: string;
  userId: string;
  provider: string;
  status: ConnectionStatus;
  refreshTokenEncrypted: string;
  accessTokenExpiresAt: Date | null;
  consecutiveFailures: number;
  consecutiveTransientFailures: number;
  /**
   * An earlier attempt's answer was never recorded: it was lost on the way (`refresh_answer_lost_at`),
   * or the worker that held the previous claim never wrote an outcome (a lapsed claim is left with
   * its `refresh_claimed_by`; every outcome and release clears it).
   */
  previousAnswerLost: boolean;
};

/**
 * Order of work within a run, so connections that keep failing never starve healthy ones:
 * - `expiring`: healthy connections (no failure since their last success) whose token expires
 *   within the lead time, soonest first (served by the partial due index);
 * - `failing`: the same for connections with failures, fewest failures first;
 * - `idle`: tokens that are not expiring but whose refresh token has not been used for the idle
 *   maximum (providers revoke unused refresh tokens).
 * Connections whose `next_retry_at` lies in the future are not due at all.
 */
export const claimPhases = ["expiring", "failing", "idle"] as const;
export type ClaimPhase = (typeof claimPhases)[number];

export type ClaimOptions = {
  provider: string;
  phase: ClaimPhase;
  limit: number;
  leadMs: number;
  idleMaxMs: number;
  leaseMs: number;
  claimedBy: string;
  /** One attempt per connection and run: rows attempted at or after this instant are not claimed. */
  attemptedBefore: Date;
  /** `expiring` only: resume the index scan here (keyset), past rows already handled this run. */
  expiresFrom?: Date | null;
};

/** Read under the claim's row lock, before the claim overwrites `refresh_claimed_by`. */
const PREVIOUS_ANSWER_LOST = `(c.refresh_claimed_by IS NOT NULL OR c.refresh_answer_lost_at IS NOT NULL) AS answer_lost`;

/** A claimed row as `ClaimedConnection`. */
const CONNECTION_COLUMNS = `c.id, c.user_id AS "userId", c.provider, c.status,
  c.refresh_token_encrypted AS "refreshTokenEncrypted", c.access_token_expires_at AS "accessTokenExpiresAt",
  c.consecutive_failures AS "consecutiveFailures",
  c.consecutive_transient_failures AS "consecutiveTransientFailures"`;
const CLAIMED_COLUMNS = `${CONNECTION_COLUMNS}, picked.answer_lost AS "previousAnswerLost"`;

/** Conditions every claim shares (the first line matches the partial index `connections_refresh_due_idx`). */
const CLAIMABLE = `c.status IN ('connected', 'warning', 'rate_limited') AND c.revoked_at IS NULL
    AND c.refresh_token_encrypted IS NOT NULL AND NOT c.token_expires_never
    AND (c.next_retry_at IS NULL OR c.next_retry_at <= now())
    AND (c.refresh_claimed_until IS NULL OR c.refresh_claimed_until <= now())`;

/** Phase-specific conditions and order; `param` adds a bind parameter and returns its placeholder. */
function phaseSql(options: ClaimOptions, param: (value: unknown) => string): string {
  const dueBy = `now() + make_interval(secs => ${param(options.leadMs)}::float8 / 1000)`;
  switch (options.phase) {
    case "expiring":
      return `AND c.access_token_expires_at < ${dueBy}
        ${options.expiresFrom ? `AND c.access_token_expires_at >= ${param(options.expiresFrom)}` : ""}
        AND c.consecutive_failures = 0 AND c.consecutive_transient_failures = 0
        ORDER BY c.access_token_expires_at`;
    case "failing":
      return `AND c.access_token_expires_at < ${dueBy}
        AND (c.consecutive_failures > 0 OR c.consecutive_transient_failures > 0)
        ORDER BY c.consecutive_failures + c.consecutive_transient_failures, c.access_token_expires_at`;
    case "idle": {
      const lastUsed = "coalesce(c.refresh_token_last_used_at, c.last_refreshed_at, c.created_at)";
      return `AND (c.access_token_expires_at IS NULL OR c.access_token_expires_at >= ${dueBy})
        AND ${lastUsed} < now() - make_interval(secs => ${param(options.idleMaxMs)}::float8 / 1000)
        ORDER BY ${lastUsed}`;
    }
  }
}

export async function claimDue(db: Queryable, options: ClaimOptions): Promise<ClaimedConnection[]> {
  const params: unknown[] = [
    options.provider,
    options.attemptedBefore,
    options.limit,
    options.leaseMs,
    options.claimedBy,
  ];
  const param = (value: unknown): string => {
    params.push(value);
    return `$${params.length}`;
  };
  const phase = phaseSql(options, param);
  const { rows } = await db.query<ClaimedConnection>(
    `WITH picked AS (
       SELECT c.id, ${PREVIOUS_ANSWER_LOST} FROM connections c
       WHERE ${CLAIMABLE}
         AND c.provider = $1
         AND (c.last_refresh_attempt_at IS NULL OR c.last_refresh_attempt_at < $2)
         ${phase}
       LIMIT $3
       FOR UPDATE SKIP LOCKED
     )
     UPDATE connections c
     SET refresh_claimed_until = now() + make_interval(secs => $4::float8 / 1000), refresh_claimed_by = $5
     FROM picked WHERE c.id = picked.id
     RETURNING ${CLAIMED_COLUMNS}`,
    params,
  );
  return rows;
}

/**
 * Claims one connection for an on-demand refresh (a `token.refresh-requested`), whatever its
 * expiry, unless another worker holds it, it was refreshed less than `minIntervalMs` ago (several
 * pollers reporting the same 401 cause one refresh), or it waits for a retry time.
 */
export async function claimOne(
  db: Queryable,
  options: { connectionId: string; leaseMs: number; claimedBy: string; minIntervalMs: number },
): Promise<ClaimedConnection | undefined> {
  const { rows } = await db.query<ClaimedConnection>(
    `WITH picked AS (
       SELECT c.id, ${PREVIOUS_ANSWER_LOST} FROM connections c
       WHERE c.id = $1 AND ${CLAIMABLE}
         AND (c.last_refreshed_at IS NULL OR c.last_refreshed_at < now() - make_interval(secs => $4::float8 / 1000))
       FOR UPDATE SKIP LOCKED
     )
     UPDATE connections c
     SET refresh_claimed_until = now() + make_interval(secs => $2::float8 / 1000), refresh_claimed_by = $3
     FROM picked WHERE c.id = picked.id
     RETURNING ${CLAIMED_COLUMNS}`,
    [options.connectionId, options.leaseMs, options.claimedBy, options.minIntervalMs],
  );
  return rows[0];
}

/**
 * Extends this replica's claims (a heartbeat): while a replica lives its claims never lapse, however
 * long a row waits for the writer; a dead replica's lapse within one lease. Rows locked right now
 * are skipped (the writer is clearing their claim), and locks are taken in id order like the
 * writer's, so the two never deadlock. Returns the ids renewed.
 */
export async function renewClaims(
  db: Queryable,
  options: { ids: readonly string[]; claimedBy: string; leaseMs: number },
): Promise<string[]> {
  if (options.ids.length === 0) return [];
  const { rows } = await db.query<{ id: string }>(
    `WITH held_here AS (
       SELECT id FROM connections WHERE id = ANY($1::uuid[]) AND refresh_claimed_by = $2
       ORDER BY id FOR UPDATE SKIP LOCKED
     )
     UPDATE connections c SET refresh_claimed_until = now() + make_interval(secs => $3::float8 / 1000)
     FROM held_here WHERE c.id = held_here.id
     RETURNING c.id`,
    [options.ids, options.claimedBy, options.leaseMs],
  );
  return rows.map((r) => r.id);
}

/** Connections due now that belong to providers this replica does not refresh (disabled or held). */
export async function countDueFor(
  db: Queryable,
  providers: readonly string[],
  leadMs: number,
): Promise<number> {
  if (providers.length === 0) return 0;
  const { rows } = await db.query<{ count: number }>(
    `SELECT count(*)::int AS count FROM connections c
     WHERE ${CLAIMABLE} AND c.provider = ANY($1::text[])
       AND c.access_token_expires_at < now() + make_interval(secs => $2::float8 / 1000)`,
    [providers, leadMs],
  );
  return rows[0]?.count ?? 0;
}
