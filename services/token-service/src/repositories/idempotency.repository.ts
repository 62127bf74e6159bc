import { createHash } from "node:crypto";
import type { Queryable } from "@syncwell/db";

/** How long an `Idempotency-Key` is remembered; a key older than this counts as new. */
export const IDEMPOTENCY_KEY_TTL_HOURS = 24;

/**
 * A fingerprint of a request body: the same key must come with the same request. The body holds
 * tokens; a sha256 of them is not reversible for tokens of any real entropy, and only the digest
 * is stored.
 */
export function requestHash(body: unknown): string {
  return createHash("sha256").update(JSON.stringify(body)).digest("hex");
}

/**
 * Serialises requests carrying the same key until the caller's transaction ends, so two retries
 * racing each other cannot both create a connection.
 */
export async function lockIdempotencyKey(db: Queryable, key: string): Promise<void> {
  await db.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [`connection-idempotency:${key}`]);
}

export async function findIdempotencyKey(
  db: Queryable,
  key: string,
): Promise<{ requestHash: string; connectionId: string } | undefined> {
  const { rows } = await db.query<{ requestHash: string; connectionId: string }>(
    `SELECT request_hash AS "requestHash", connection_id AS "connectionId"
       FROM connection_idempotency_keys
      WHERE key = $1 AND created_at > now() - make_interval(hours => $2)`,
    [key, IDEMPOTENCY_KEY_TTL_HOURS],
  );
  return rows[0];
}

/** Records the key; an expired row under the same key is replaced. */
export async function saveIdempotencyKey(
  db: Queryable,
  key: string,
  hash: string,
  connectionId: string,
): Promise<void> {
  await db.query(
    `INSERT INTO connection_idempotency_keys (key, request_hash, connection_id) VALUES ($1, $2, $3)
     ON CONFLICT (key) DO UPDATE
       SET request_hash = EXCLUDED.request_hash, connection_id = EXCLUDED.connection_id, created_at = now()`,
    [key, hash, connectionId],
  );
}

/** Drops keys past their lifetime (called now and then by the create route; cheap with the index). */
export async function purgeExpiredIdempotencyKeys(db: Queryable): Promise<number> {
  const { rowCount } = await db.query(
    "DELETE FROM connection_idempotency_keys WHERE created_at < now() - make_interval(hours => $1)",
    [IDEMPOTENCY_KEY_TTL_HOURS],
  );
  return rowCount ?? 0;
}
