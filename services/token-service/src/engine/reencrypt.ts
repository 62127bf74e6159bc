import { NIL_UUID } from "@syncwell/contracts";
import type { TokenCipher } from "@syncwell/credentials";
import { withTransaction } from "@syncwell/db";
import type pg from "pg";

/**
 * Moves every connection's tokens to the current key, so an old key can be removed.
 *
 * Safe while the service runs: each batch is one short transaction that locks its rows with
 * `FOR UPDATE SKIP LOCKED`, so a row a refresh holds is skipped (not waited for) and picked up by a
 * later pass. Idempotent: a row already under the current key is never selected.
 *
 * A row is stale when its `token_key_id` is not the current key, or when either ciphertext names
 * another key (the ciphertext carries its key id, so this also catches a writer that set
 * `token_key_id` without rewriting both tokens).
 */

export type ReencryptProgress = { done: number; total: number; failed: number };

export type ReencryptOptions = {
  batchSize?: number;
  /** Passes over the table when rows were locked by running refreshes; default 5. */
  maxPasses?: number;
  /** Wait before another pass over locked rows; default 1 s. */
  passDelayMs?: number;
  onProgress?: (progress: ReencryptProgress) => void;
};

export type ReencryptSummary = {
  currentKeyId: string;
  /** Stale rows found at the start. */
  total: number;
  reencrypted: number;
  /** Rows whose ciphertext could not be decrypted with the configured keys (ids only). */
  failed: Array<{ id: string; reason: string }>;
  /** Stale rows still left (locked through every pass, or written under an old key meanwhile). */
  remaining: number;
  passes: number;
};

const STALE = `(access_token_encrypted IS NOT NULL OR refresh_token_encrypted IS NOT NULL)
  AND (token_key_id IS DISTINCT FROM $1
       OR split_part(access_token_encrypted, '.', 2) <> $1
       OR split_part(refresh_token_encrypted, '.', 2) <> $1)`;

type StaleRow = { id: string; access: string | null; refresh: string | null };

async function countStale(pool: pg.Pool, keyId: string, excluded: readonly string[]): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM connections WHERE ${STALE} AND NOT (id = ANY($2::uuid[]))`,
    [keyId, excluded],
  );
  return Number(rows[0]?.n ?? 0);
}

export async function reencryptConnections(
  pool: pg.Pool,
  cipher: TokenCipher,
  options: ReencryptOptions = {},
): Promise<ReencryptSummary> {
  const batchSize = options.batchSize ?? 500;
  const maxPasses = options.maxPasses ?? 5;
  const keyId = cipher.currentKeyId;
  const failed: ReencryptSummary["failed"] = [];
  const failedIds: string[] = [];
  const total = await countStale(pool, keyId, []);
  let reencrypted = 0;
  let passes = 0;
  let remaining = total;

  while (remaining > 0 && passes < maxPasses) {
    if (passes > 0) await new Promise((resolve) => setTimeout(resolve, options.passDelayMs ?? 1_000));
    passes += 1;
    // Keyset walk: every row is visited once per pass, whatever happens to it.
    let afterId = NIL_UUID;
    for (;;) {
      const batch = await withTransaction(pool, async (tx) => {
        const { rows } = await tx.query<StaleRow>(
          `SELECT id, access_token_encrypted AS access, refresh_token_encrypted AS refresh
             FROM connections
            WHERE ${STALE} AND id > $2 AND NOT (id = ANY($3::uuid[]))
            ORDER BY id LIMIT $4
            FOR UPDATE SKIP LOCKED`,
          [keyId, afterId, failedIds, batchSize],
        );
        const ids: string[] = [];
        const access: Array<string | null> = [];
        const refresh: Array<string | null> = [];
        for (const row of rows) {
          try {
            const reseal = (sealed: string | null) =>
              sealed === null ? null : cipher.encrypt(cipher.decrypt(sealed));
            access.push(reseal(row.access));
            refresh.push(reseal(row.refresh));
            ids.push(row.id);
          } catch (err) {
            // TokenCipherError messages name key ids, never material.
            failed.push({ id: row.id, reason: (err as Error).message });
            failedIds.push(row.id);
          }
        }
        if (ids.length > 0) {
          // updated_at is left alone: the connection did not change, only how it is stored.
          await tx.query(
            `UPDATE connections c
                SET access_token_encrypted = v.access, refresh_token_encrypted = v.refresh, token_key_id = $4
               FROM unnest($1::uuid[], $2::text[], $3::text[]) AS v(id, access, refresh)
              WHERE c.id = v.id`,
            [ids, access, refresh, keyId],
          );
        }
        return { seen: rows.length, lastId: rows.at(-1)?.id, written: ids.length };
      });
      reencrypted += batch.written;
      if (batch.seen > 0) options.onProgress?.({ done: reencrypted, total, failed: failed.length });
      if (batch.seen < batchSize || batch.lastId === undefined) break;
      afterId = batch.lastId;
    }
    remaining = await countStale(pool, keyId, failedIds);
  }

  return { currentKeyId: keyId, total, reencrypted, failed, remaining, passes };
}
