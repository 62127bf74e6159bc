import type { ConnectionStatus } from "@syncwell/contracts";
import type { ConnectionRow } from "../repositories/connections.repository.ts";

/**
 * What the API shows of a connection. Built field by field from the row, so a ciphertext (let
 * alone a token) cannot reach a response by accident: the row's token columns become booleans.
 */
export type ConnectionView = {
  id: string;
  userId: string;
  provider: string;
  providerAccountId: string | null;
  scopes: string[];
  status: ConnectionStatus;
  hasAccessToken: boolean;
  hasRefreshToken: boolean;
  /** null when the token never expires (`tokenExpiresNever`) or the connection is revoked. */
  accessTokenExpiresAt: string | null;
  tokenExpiresNever: boolean;
  /** Key the stored tokens are encrypted with; null when none are stored. */
  tokenKeyId: string | null;
  consecutiveFailures: number;
  consecutiveTransientFailures: number;
  lastErrorCode: string | null;
  lastFailureAt: string | null;
  nextRetryAt: string | null;
  lastRefreshedAt: string | null;
  lastSyncedAt: string | null;
  revokedAt: string | null;
  createdAt: string;
  updatedAt: string;
};

const iso = (date: Date | null): string | null => (date === null ? null : date.toISOString());

export function toConnectionView(row: ConnectionRow): ConnectionView {
  return {
    id: row.id,
    userId: row.userId,
    provider: row.provider,
    providerAccountId: row.providerAccountId,
    scopes: row.scopes,
    status: row.status,
    hasAccessToken: row.accessTokenEncrypted !== null,
    hasRefreshToken: row.refreshTokenEncrypted !== null,
    accessTokenExpiresAt: iso(row.accessTokenExpiresAt),
    tokenExpiresNever: row.tokenExpiresNever,
    tokenKeyId: row.tokenKeyId,
    consecutiveFailures: row.consecutiveFailures,
    consecutiveTransientFailures: row.consecutiveTransientFailures,
    lastErrorCode: row.lastErrorCode,
    lastFailureAt: iso(row.lastFailureAt),
    nextRetryAt: iso(row.nextRetryAt),
    lastRefreshedAt: iso(row.lastRefreshedAt),
    lastSyncedAt: iso(row.lastSyncedAt),
    revokedAt: iso(row.revokedAt),
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}
