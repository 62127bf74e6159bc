import { type ConnectionStatus, connectionStatuses } from "@syncwell/contracts";
import type { TokenCipher } from "@syncwell/credentials";
import type { Connection, PrismaDb } from "@syncwell/db";

/**
 * The connections API's reads and writes of the `connections` table, through Prisma Client. Every
 * function takes the client first: Prisma Client, or an interactive transaction's client. (The
 * refresh side claims and writes rows in batches through `pg`: refresh-claims.repository.ts.)
 *
 * Invariant kept by every writer: both ciphertexts of a row are under the key named by
 * `token_key_id` (null when the row holds no ciphertext). A writer that changes one token
 * re-encrypts the other under the current key too — see `sealTokens`.
 */

/** One row; ciphertexts included (never hand this to a response, a log or an event). */
export type ConnectionRow = Omit<Connection, "status"> & { status: ConnectionStatus };

/** Plaintext tokens of a row; only ever held in memory for the duration of a request. */
export type ConnectionTokens = { accessToken: string | null; refreshToken: string | null };

/** The ciphertext columns of a row, as one unit so the key id cannot drift from the ciphertexts. */
export type SealedTokens = {
  accessTokenEncrypted: string | null;
  refreshTokenEncrypted: string | null;
  tokenKeyId: string | null;
};

/** The status column holds a known status (a CHECK constraint): typed as one here. */
function asRow(connection: Connection): ConnectionRow {
  const status = connectionStatuses.find((s) => s === connection.status);
  if (status === undefined)
    throw new Error(`connection ${connection.id} has unknown status ${connection.status}`);
  return { ...connection, status };
}

const asRowOrUndefined = (connection: Connection | null) => (connection ? asRow(connection) : undefined);

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

/**
 * `forUpdate` locks the row until the caller's transaction ends (Prisma's queries cannot say
 * FOR UPDATE): a writer that read it first then cannot be overtaken by a refresh holding the row.
 */
export async function findConnection(
  db: PrismaDb,
  id: string,
  options: { forUpdate?: boolean } = {},
): Promise<ConnectionRow | undefined> {
  if (options.forUpdate) await db.$executeRaw`SELECT 1 FROM connections WHERE id = ${id}::uuid FOR UPDATE`;
  return asRowOrUndefined(await db.connection.findUnique({ where: { id } }));
}

export type ProviderAccount = { userId: string; provider: string; providerAccountId: string | null };

/** The connection of one provider account (a null account id is a value of its own: NULLS NOT DISTINCT). */
export async function findConnectionByAccount(
  db: PrismaDb,
  account: ProviderAccount,
  options: { forUpdate?: boolean } = {},
): Promise<ConnectionRow | undefined> {
  if (options.forUpdate) {
    await db.$executeRaw`SELECT 1 FROM connections
      WHERE user_id = ${account.userId}::uuid AND provider = ${account.provider}
        AND provider_account_id IS NOT DISTINCT FROM ${account.providerAccountId}
      FOR UPDATE`;
  }
  const { userId, provider, providerAccountId } = account;
  return asRowOrUndefined(await db.connection.findFirst({ where: { userId, provider, providerAccountId } }));
}

/** Columns a writer may set; `updatedAt` is bumped by Prisma Client unless given. */
export type ConnectionPatch = Partial<
  Omit<ConnectionRow, "id" | "userId" | "provider" | "providerAccountId" | "createdAt">
>;

/** A new row (the id is a UUIDv7 Prisma Client generates); what the patch leaves out takes its default. */
export async function insertConnection(
  db: PrismaDb,
  input: ProviderAccount & ConnectionPatch,
): Promise<ConnectionRow> {
  return asRow(await db.connection.create({ data: input }));
}

/** Throws when the row does not exist (callers have locked it). */
export async function updateConnection(
  db: PrismaDb,
  id: string,
  patch: ConnectionPatch,
): Promise<ConnectionRow> {
  return asRow(await db.connection.update({ where: { id }, data: patch }));
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

/**
 * Revocation of a row the caller has locked: tokens wiped, claim dropped. Revoking a revoked row
 * again keeps its first `revokedAt` and its `updatedAt`: nothing changed.
 */
export async function revokeConnection(
  db: PrismaDb,
  current: ConnectionRow,
  now: Date,
): Promise<ConnectionRow> {
  const again = current.status === "revoked";
  return updateConnection(db, current.id, {
    status: "revoked",
    accessTokenEncrypted: null,
    refreshTokenEncrypted: null,
    tokenKeyId: null,
    nextRetryAt: null,
    refreshClaimedUntil: null,
    refreshClaimedBy: null,
    revokedAt: current.revokedAt ?? now,
    updatedAt: again ? current.updatedAt : now,
  });
}

export type ConnectionFilter = {
  userId?: string | undefined;
  provider?: string | undefined;
  status?: readonly ConnectionStatus[] | undefined;
};

/** One page in id order (ids are UUIDv7, so that is creation order); `afterId` is the keyset cursor. */
export async function listConnections(
  db: PrismaDb,
  filter: ConnectionFilter,
  page: { limit: number; afterId?: string | undefined },
): Promise<ConnectionRow[]> {
  const rows = await db.connection.findMany({
    where: {
      userId: filter.userId,
      provider: filter.provider,
      status: filter.status?.length ? { in: [...filter.status] } : undefined,
      id: page.afterId === undefined ? undefined : { gt: page.afterId },
    },
    orderBy: { id: "asc" },
    take: page.limit,
  });
  return rows.map(asRow);
}
