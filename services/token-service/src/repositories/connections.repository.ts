import type { ConnectionStatus } from "@syncwell/contracts";
import { uuidv7 } from "@syncwell/contracts";
import type { TokenCipher } from "@syncwell/credentials";
import type { Queryable } from "@syncwell/db";

/**
 * The `connections` table through `pg` (the routes write events to the outbox in the same
 * transaction, which needs the same client; the refresh side claims rows with SKIP LOCKED).
 * Every function takes the database (a pool, or a client inside a transaction) first.
 *
 * Invariant kept by every writer: both ciphertexts of a row are under the key named by
 * `token_key_id` (null when the row holds no ciphertext). A writer that changes one token
 * re-encrypts the other under the current key too — see `sealTokens`.
 */

/** One row, camelCased; ciphertexts included (never hand this to a response, a log or an event). */
export type ConnectionRow = {
  id: string;
  userId: string;
  provider: string;
  providerAccountId: string | null;
  scopes: string[];
  status: ConnectionStatus;
  accessTokenEncrypted: string | null;
  refreshTokenEncrypted: string | null;
  tokenKeyId: string | null;
  accessTokenExpiresAt: Date | null;
  tokenExpiresNever: boolean;
  refreshTokenLastUsedAt: Date | null;
  lastRefreshedAt: Date | null;
  lastRefreshAttemptAt: Date | null;
  consecutiveFailures: number;
  consecutiveTransientFailures: number;
  lastErrorCode: string | null;
  lastFailureAt: Date | null;
  nextRetryAt: Date | null;
  lastSyncedAt: Date | null;
  refreshClaimedUntil: Date | null;
  refreshClaimedBy: string | null;
  revokedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
};

/** Plaintext tokens of a row; only ever held in memory for the duration of a request. */
export type ConnectionTokens = { accessToken: string | null; refreshToken: string | null };

/** The ciphertext columns of a row, as one unit so the key id cannot drift from the ciphertexts. */
export type SealedTokens = {
  accessTokenEncrypted: string | null;
  refreshTokenEncrypted: string | null;
  tokenKeyId: string | null;
};

const COLUMNS: ReadonlyArray<readonly [keyof ConnectionRow, string]> = [
  ["id", "id"],
  ["userId", "user_id"],
  ["provider", "provider"],
  ["providerAccountId", "provider_account_id"],
  ["scopes", "scopes"],
  ["status", "status"],
  ["accessTokenEncrypted", "access_token_encrypted"],
  ["refreshTokenEncrypted", "refresh_token_encrypted"],
  ["tokenKeyId", "token_key_id"],
  ["accessTokenExpiresAt", "access_token_expires_at"],
  ["tokenExpiresNever", "token_expires_never"],
  ["refreshTokenLastUsedAt", "refresh_token_last_used_at"],
  ["lastRefreshedAt", "last_refreshed_at"],
  ["lastRefreshAttemptAt", "last_refresh_attempt_at"],
  ["consecutiveFailures", "consecutive_failures"],
  ["consecutiveTransientFailures", "consecutive_transient_failures"],
  ["lastErrorCode", "last_error_code"],
  ["lastFailureAt", "last_failure_at"],
  ["nextRetryAt", "next_retry_at"],
  ["lastSyncedAt", "last_synced_at"],
  ["refreshClaimedUntil", "refresh_claimed_until"],
  ["refreshClaimedBy", "refresh_claimed_by"],
  ["revokedAt", "revoked_at"],
  ["createdAt", "created_at"],
  ["updatedAt", "updated_at"],
];

const COLUMN_OF = new Map(COLUMNS);

/**
 * The select list that yields a `ConnectionRow` (`"camelCase"` aliases), optionally qualified by a
 * table alias: `SELECT ${connectionColumns("c")} FROM connections c …`.
 */
export function connectionColumns(alias?: string): string {
  const prefix = alias ? `${alias}.` : "";
  return COLUMNS.map(([field, column]) => `${prefix}${column} AS "${field}"`).join(", ");
}

/** Decrypts a row's tokens (any configured key). Throws TokenCipherError if a ciphertext is unreadable. */
export function decryptTokens(
  row: Pick<ConnectionRow, "accessTokenEncrypted" | "refreshTokenEncrypted">,
  cipher: TokenCipher,
): ConnectionTokens {
  return {
    accessToken: row.accessTokenEncrypted === null ? null : cipher.decrypt(row.accessTokenEncrypted),
    refreshToken: row.refreshTokenEncrypted === null ? null : cipher.decrypt(row.refreshTokenEncrypted),
  };
}

/** Encrypts both tokens under the current key; `tokenKeyId` is null when there is nothing to encrypt. */
export function sealTokens(tokens: ConnectionTokens, cipher: TokenCipher): SealedTokens {
  const accessTokenEncrypted = tokens.accessToken === null ? null : cipher.encrypt(tokens.accessToken);
  const refreshTokenEncrypted = tokens.refreshToken === null ? null : cipher.encrypt(tokens.refreshToken);
  const empty = accessTokenEncrypted === null && refreshTokenEncrypted === null;
  return { accessTokenEncrypted, refreshTokenEncrypted, tokenKeyId: empty ? null : cipher.currentKeyId };
}

export async function findConnection(
  db: Queryable,
  id: string,
  options: { forUpdate?: boolean } = {},
): Promise<ConnectionRow | undefined> {
  const { rows } = await db.query<ConnectionRow>(
    `SELECT ${connectionColumns()} FROM connections WHERE id = $1${options.forUpdate ? " FOR UPDATE" : ""}`,
    [id],
  );
  return rows[0];
}

/** The connection of one provider account (a null account id is a value of its own: NULLS NOT DISTINCT). */
export async function findConnectionByAccount(
  db: Queryable,
  key: { userId: string; provider: string; providerAccountId: string | null },
  options: { forUpdate?: boolean } = {},
): Promise<ConnectionRow | undefined> {
  const { rows } = await db.query<ConnectionRow>(
    `SELECT ${connectionColumns()} FROM connections
      WHERE user_id = $1 AND provider = $2 AND provider_account_id IS NOT DISTINCT FROM $3
      ${options.forUpdate ? "FOR UPDATE" : ""}`,
    [key.userId, key.provider, key.providerAccountId],
  );
  return rows[0];
}

export type NewConnection = {
  userId: string;
  provider: string;
  providerAccountId: string | null;
  scopes: string[];
  sealed: SealedTokens;
  accessTokenExpiresAt: Date | null;
  tokenExpiresNever: boolean;
};

export async function insertConnection(db: Queryable, input: NewConnection): Promise<ConnectionRow> {
  const { rows } = await db.query<ConnectionRow>(
    `INSERT INTO connections (id, user_id, provider, provider_account_id, scopes, access_token_encrypted,
       refresh_token_encrypted, token_key_id, access_token_expires_at, token_expires_never)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     RETURNING ${connectionColumns()}`,
    [
      uuidv7(),
      input.userId,
      input.provider,
      input.providerAccountId,
      input.scopes,
      input.sealed.accessTokenEncrypted,
      input.sealed.refreshTokenEncrypted,
      input.sealed.tokenKeyId,
      input.accessTokenExpiresAt,
      input.tokenExpiresNever,
    ],
  );
  return rows[0] as ConnectionRow;
}

/** Columns a writer may set; `updated_at` is always bumped. */
export type ConnectionPatch = Partial<
  Omit<ConnectionRow, "id" | "userId" | "provider" | "providerAccountId" | "createdAt" | "updatedAt">
>;

export async function updateConnection(
  db: Queryable,
  id: string,
  patch: ConnectionPatch,
): Promise<ConnectionRow | undefined> {
  const sets: string[] = [];
  const values: unknown[] = [id];
  for (const [field, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    const column = COLUMN_OF.get(field as keyof ConnectionRow);
    if (!column) throw new Error(`updateConnection: unknown field ${field}`);
    values.push(value);
    sets.push(`${column} = $${values.length}`);
  }
  sets.push("updated_at = now()");
  const { rows } = await db.query<ConnectionRow>(
    `UPDATE connections SET ${sets.join(", ")} WHERE id = $1 RETURNING ${connectionColumns()}`,
    values,
  );
  return rows[0];
}

/** What a user's re-authorization (or a fresh registration over a revoked row) resets. */
export const healthyState = {
  status: "connected",
  consecutiveFailures: 0,
  consecutiveTransientFailures: 0,
  lastErrorCode: null,
  lastFailureAt: null,
  nextRetryAt: null,
  revokedAt: null,
  // A refresh in flight was started with the old grant; dropping its claim tells it to discard
  // its result (refresh writers must update only rows still claimed by themselves).
  refreshClaimedUntil: null,
  refreshClaimedBy: null,
} as const satisfies ConnectionPatch;

/** Revocation: tokens wiped, claim dropped; repeated calls keep the first `revoked_at`. */
export async function revokeConnection(db: Queryable, id: string): Promise<ConnectionRow | undefined> {
  const { rows } = await db.query<ConnectionRow>(
    `UPDATE connections
        SET status = 'revoked', access_token_encrypted = NULL, refresh_token_encrypted = NULL,
            token_key_id = NULL, next_retry_at = NULL, refresh_claimed_until = NULL, refresh_claimed_by = NULL,
            revoked_at = COALESCE(revoked_at, now()),
            updated_at = CASE WHEN status = 'revoked' THEN updated_at ELSE now() END
      WHERE id = $1
      RETURNING ${connectionColumns()}`,
    [id],
  );
  return rows[0];
}

export type ConnectionFilter = {
  userId?: string | undefined;
  provider?: string | undefined;
  status?: readonly ConnectionStatus[] | undefined;
};

/** One page in id order (ids are UUIDv7, so that is creation order); `afterId` is the keyset cursor. */
export async function listConnections(
  db: Queryable,
  filter: ConnectionFilter,
  page: { limit: number; afterId?: string | undefined },
): Promise<ConnectionRow[]> {
  const where: string[] = [];
  const values: unknown[] = [];
  const add = (sql: (param: string) => string, value: unknown) => {
    values.push(value);
    where.push(sql(`$${values.length}`));
  };
  if (filter.userId !== undefined) add((p) => `user_id = ${p}`, filter.userId);
  if (filter.provider !== undefined) add((p) => `provider = ${p}`, filter.provider);
  if (filter.status !== undefined && filter.status.length > 0)
    add((p) => `status = ANY(${p})`, filter.status);
  if (page.afterId !== undefined) add((p) => `id > ${p}`, page.afterId);
  values.push(page.limit);
  const { rows } = await db.query<ConnectionRow>(
    `SELECT ${connectionColumns()} FROM connections
      ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""}
      ORDER BY id LIMIT $${values.length}`,
    values,
  );
  return rows;
}
