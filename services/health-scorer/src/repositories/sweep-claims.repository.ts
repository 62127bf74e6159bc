import { type HealthSubjectKind, NIL_UUID } from "@syncwell/contracts";
import type { Queryable } from "@syncwell/db";

/**
 * Claiming stale scores for the sweep, across replicas, with `FOR UPDATE SKIP LOCKED`: a claim
 * sets `claimed_until = now() + lease`, `claimed_by = <replica>` and `last_attempt_at = now()` in
 * one statement, so a crashed replica's claims lapse and are taken over, and a score is attempted
 * once per run (`last_attempt_at` before the run's start).
 */

export const SWEEP_CLAIMS = { table: "health_scores", claimedUntil: "claimed_until" } as const;

export type ClaimedScore = { subjectType: HealthSubjectKind; subjectId: string; userId: string };

export type SweepClaimOptions = {
  limit: number;
  leaseMs: number;
  claimedBy: string;
  /** Scores computed before now() − maxAge are stale. */
  maxAgeMs: number;
  /** Users seen within now() − activeWindow are swept. */
  activeWindowMs: number;
  /** The run's start: scores attempted at or after it are not claimed again. */
  attemptedBefore: Date;
  /** Users before this id are not read (null: from the first). */
  fromUserId: string | null;
};

/**
 * From users in id order, from `fromUserId` on, to the stale scores of the active ones
 * (`health_scores_user_id_computed_at_idx`), never the other way: inactive users' scores stay the
 * oldest and are never visited. The caller moves `fromUserId` to the last user claimed, so a pass
 * reads each user once; without it, every claim would read again the scores already attempted in
 * this run (the whole table, in the plan Postgres picks when most scores are stale). The bound is
 * on both sides of the join: with statistics of a table of stale scores Postgres merge-joins the
 * users with the scores' index, and a bound on the users alone left that index read from its
 * first user on every claim.
 */
export async function claimStaleScores(db: Queryable, options: SweepClaimOptions): Promise<ClaimedScore[]> {
  const { rows } = await db.query<ClaimedScore>(
    `WITH picked AS (
       SELECT h.subject_type, h.subject_id FROM users u
       JOIN health_scores h ON h.user_id = u.id
         AND h.computed_at < now() - make_interval(secs => $1::float8 / 1000)
       WHERE u.last_active_at > now() - make_interval(secs => $2::float8 / 1000)
         AND u.id >= $7 AND h.user_id >= $7
         AND (h.claimed_until IS NULL OR h.claimed_until <= now())
         AND (h.last_attempt_at IS NULL OR h.last_attempt_at < $3)
       ORDER BY u.id
       LIMIT $4
       FOR UPDATE OF h SKIP LOCKED
     )
     UPDATE health_scores h
     SET claimed_until = now() + make_interval(secs => $5::float8 / 1000), claimed_by = $6, last_attempt_at = now()
     FROM picked WHERE h.subject_type = picked.subject_type AND h.subject_id = picked.subject_id
     RETURNING h.subject_type AS "subjectType", h.subject_id AS "subjectId", h.user_id AS "userId"`,
    [
      options.maxAgeMs,
      options.activeWindowMs,
      options.attemptedBefore,
      options.limit,
      options.leaseMs,
      options.claimedBy,
      options.fromUserId ?? NIL_UUID,
    ],
  );
  return rows;
}

/** Releases this replica's claims on the given scores, noting why an attempt failed (null: it did not). */
export async function releaseClaims(
  db: Queryable,
  claimedBy: string,
  released: readonly { subjectType: string; subjectId: string; error: string | null }[],
): Promise<void> {
  if (released.length === 0) return;
  await db.query(
    `UPDATE health_scores h SET claimed_until = NULL, claimed_by = NULL,
       last_error = coalesce(r.error, h.last_error)
     FROM unnest($2::text[], $3::uuid[], $4::text[]) AS r(subject_type, subject_id, error)
     WHERE h.subject_type = r.subject_type AND h.subject_id = r.subject_id AND h.claimed_by = $1`,
    [
      claimedBy,
      released.map((r) => r.subjectType),
      released.map((r) => r.subjectId),
      released.map((r) => r.error),
    ],
  );
}

/** Distinct users whose scores were attempted since `since` (the run's users). */
/**
 * Records this run's attempt on first scores the sweep just wrote (they are not claimed): the run
 * counts their users, and its stale pass does not take them again.
 */
export async function markAttempted(db: Queryable, subjects: readonly ClaimedScore[]): Promise<void> {
  if (subjects.length === 0) return;
  await db.query(
    `UPDATE health_scores h SET last_attempt_at = now()
     FROM unnest($1::text[], $2::uuid[]) AS s(subject_type, subject_id)
     WHERE h.subject_type = s.subject_type AND h.subject_id = s.subject_id`,
    [subjects.map((s) => s.subjectType), subjects.map((s) => s.subjectId)],
  );
}

export async function countSweptUsers(db: Queryable, since: Date): Promise<number> {
  const { rows } = await db.query<{ count: number }>(
    `SELECT count(DISTINCT user_id)::int AS count FROM health_scores WHERE last_attempt_at >= $1`,
    [since],
  );
  return rows[0]?.count ?? 0;
}

const UNSCORED_SOURCES: Record<HealthSubjectKind, { table: string; where: string }> = {
  connection: { table: "connections", where: "" },
  contact: { table: "contacts", where: "" },
  // A won or lost deal has no health to keep.
  deal: { table: "deals", where: "AND s.status = 'open'" },
};

/**
 * Subjects of active users that have no score yet (created without an event that scores them, such
 * as a deal or a contact from the API), in id order after `after`: the sweep gives them their first
 * score. Not claimed: two replicas may score one at once, and the score write keeps one of them.
 *
 * Each subject is looked up in an index of the scores as it is read (`OFFSET 0` keeps the NOT
 * EXISTS a per-row subplan). As an anti-join, once statistics say most subjects are scored,
 * Postgres expects too few unscored ones to fill the page and hashes every score instead, on every
 * page: a first sweep after a backlog then read the whole table per 500 subjects.
 */
export async function findUnscored(
  db: Queryable,
  options: { kind: HealthSubjectKind; after: string | null; limit: number; activeWindowMs: number },
): Promise<ClaimedScore[]> {
  const source = UNSCORED_SOURCES[options.kind];
  const { rows } = await db.query<ClaimedScore>(
    `SELECT $1::text AS "subjectType", s.id AS "subjectId", s.user_id AS "userId"
     FROM users u JOIN ${source.table} s ON s.user_id = u.id
     WHERE u.last_active_at > now() - make_interval(secs => $2::float8 / 1000)
       AND ($3::uuid IS NULL OR s.id > $3) ${source.where}
       AND NOT EXISTS (SELECT 1 FROM health_scores h WHERE h.subject_type = $1 AND h.subject_id = s.id OFFSET 0)
     ORDER BY s.id LIMIT $4`,
    [options.kind, options.activeWindowMs, options.after, options.limit],
  );
  return rows;
}
