import { enqueueEvents } from "@syncwell/bus";
import { type AnyEvent, type ConnectionStatus, createEvent } from "@syncwell/contracts";
import type { TokenCipher } from "@syncwell/credentials";
import { recordJobRunCounts } from "@syncwell/db";
import type { Logger } from "@syncwell/telemetry";
import type pg from "pg";
import type { RefreshSuccess } from "../adapters/oauth-token.client.ts";
import { type ProviderRuntime, parseScopes } from "../domain/providers.ts";
import {
  type ConnectionRefreshState,
  decideFailure,
  decideSuccess,
  type RefreshFailure,
} from "../domain/refresh-outcome.ts";
import type { ClaimedConnection } from "../repositories/refresh-claims.repository.ts";
import type { RefreshMetrics } from "./metrics.ts";

export const EVENT_SOURCE = "token-service";

type ItemBase = {
  claim: ClaimedConnection;
  provider: ProviderRuntime;
  jobRunId?: string | undefined;
};

/** What happened to one claimed connection, to be written with its events in one transaction. */
export type WriteItem = ItemBase &
  (
    | {
        kind: "success";
        /** The refresh token that was presented: the answer applies only to a row still holding it. */
        usedRefreshToken: string;
        result: RefreshSuccess;
        receivedAt: Date;
        /** Journal entries holding this answer (see RotationJournal), removed once it is stored. */
        journalSeqs: number[];
      }
    | { kind: "failure"; usedRefreshToken: string; failure: RefreshFailure; receivedAt: Date }
    /** The provider rejected Syncwell's client: the row is left as it is. */
    | { kind: "operator"; failure: RefreshFailure; errorCode: string; alert?: AnyEvent | undefined }
    /**
     * Not attempted: only the claim is dropped. `requeue` releases (stopping, lease too short) hand
     * the connection back for another attempt in this or the next run and count as nothing; the
     * others (provider held, unreadable token) are skips.
     */
    | { kind: "release"; reason: string; requeue?: boolean }
  );

/**
 * `released`: nothing counted (a requeue release, or an answer another worker had already stored);
 * `deferred`: the same connection came twice in one batch, the later item waits for the next one.
 */
export type WriteOutcome = "refreshed" | "failed" | "skipped" | "released" | "deferred";

export type LockedRow = {
  id: string;
  status: ConnectionStatus;
  refresh_token_encrypted: string | null;
  consecutive_failures: number;
  consecutive_transient_failures: number;
  refresh_claimed_by: string | null;
  revoked_at: Date | null;
};

const REFRESHABLE: ReadonlySet<string> = new Set(["connected", "warning", "rate_limited"]);

type Counts = { checked: number; refreshed: number; failed: number; skipped: number };

type SuccessItem = Extract<WriteItem, { kind: "success" }>;

export type BatchContext = {
  cipher: TokenCipher;
  /** This replica's claim id. */
  claimedBy: string;
  logger: Logger;
  metrics: RefreshMetrics;
  random: () => number;
};

/**
 * One transaction's worth of outcomes: per row, what to write, built from the rows as locked. Each
 * row gets exactly the checks a transaction of its own would give it.
 *
 * Fencing: an answer that rotated the refresh token is stored whenever the row still holds the
 * token its request presented, whoever holds the claim now: the provider has already replaced that
 * token, so the answer is the only working copy (a claim that lapsed while Postgres was away must
 * not throw it away). A row holding any other token is newer than the answer (a reconnect, or the
 * same answer stored by another worker, or by this batch's earlier attempt whose COMMIT did go
 * through), and is never overwritten. Answers that did not rotate, failures and releases are
 * written only by the claim's holder, and failures only while the row holds the token they
 * presented.
 */
export class OutcomeBatch {
  /** Per item, in the order given. */
  readonly outcomes: WriteOutcome[] = [];
  private readonly events: AnyEvent[] = [];
  /** Rows whose claim is cleared and nothing else. */
  private readonly claimsToRelease: string[] = [];
  /** Columns of the rows refreshed, one entry per row (bound as arrays to one UPDATE). */
  private readonly refreshedRows = {
    id: [] as string[],
    accessTokenEncrypted: [] as string[],
    refreshTokenEncrypted: [] as string[],
    keyId: [] as string[],
    expiresAt: [] as (Date | null)[],
    expiresNever: [] as boolean[],
    /** JSON array of the granted scopes; null keeps the row's. */
    scopes: [] as (string | null)[],
    /** Whether this replica holds the row's claim, which the write then clears. */
    releaseClaim: [] as boolean[],
  };
  /** Columns of the rows whose refresh failed, one entry per row. */
  private readonly failedRows = {
    id: [] as string[],
    status: [] as string[],
    consecutiveFailures: [] as number[],
    consecutiveTransientFailures: [] as number[],
    errorCode: [] as string[],
    retryAt: [] as (Date | null)[],
    answerLost: [] as boolean[],
  };
  private readonly jobRunCounts = new Map<string, Counts>();
  /** A connection's second item in one batch waits for the next batch. */
  private readonly connectionsInBatch = new Set<string>();
  private readonly context: BatchContext;

  constructor(context: BatchContext, items: readonly WriteItem[], rows: ReadonlyMap<string, LockedRow>) {
    this.context = context;
    for (const item of items) this.add(item, rows.get(item.claim.id));
  }

  private add(item: WriteItem, row: LockedRow | undefined): void {
    if (this.connectionsInBatch.has(item.claim.id)) {
      this.count(item, "deferred");
      return;
    }
    this.connectionsInBatch.add(item.claim.id);
    if (!row) {
      this.count(item, "skipped");
      return;
    }
    if (item.kind === "success") {
      this.addSuccess(item, row);
      return;
    }
    if (row.refresh_claimed_by !== this.context.claimedBy) {
      this.count(item, "skipped");
      return;
    }
    if (item.kind === "release") {
      this.claimsToRelease.push(row.id);
      this.count(item, "skipped");
      return;
    }
    if (item.kind === "operator") {
      this.addOperator(item, row);
      return;
    }
    this.addFailure(item, row);
    return;
  }

  /** The refresh token the row holds, decrypted only when its ciphertext differs from the claim's. */
  private currentToken(row: LockedRow, claim: ClaimedConnection, presented: string): string | null {
    if (row.refresh_token_encrypted === claim.refreshTokenEncrypted) return presented;
    try {
      return row.refresh_token_encrypted ? this.context.cipher.decrypt(row.refresh_token_encrypted) : null;
    } catch {
      return null;
    }
  }

  private addSuccess(item: SuccessItem, row: LockedRow): void {
    const rotated =
      item.result.refreshToken !== undefined && item.result.refreshToken !== item.usedRefreshToken;
    const claimHeld = row.refresh_claimed_by === this.context.claimedBy;
    if (!rotated && !claimHeld) {
      // Nothing is lost without the claim (the refresh token still works), and the claim is what
      // tells a retried batch whose COMMIT did go through from a first write: never twice.
      this.count(item, "released");
      return;
    }
    const current = this.currentToken(row, item.claim, item.usedRefreshToken);
    if (current !== item.usedRefreshToken || row.revoked_at !== null || row.status === "revoked") {
      if (claimHeld) this.claimsToRelease.push(row.id);
      if (current !== null && current === item.result.refreshToken) {
        this.count(item, "released");
        return;
      }
      if (rotated) {
        this.context.logger.warn(
          { connectionId: row.id, provider: item.provider.id, status: row.status },
          "a rotated refresh token arrived for a connection whose tokens changed meanwhile (reconnected or revoked); the newer tokens are kept",
        );
      }
      this.count(item, "skipped");
      return;
    }
    const expiresAt = this.addRefreshedRow(item, row, claimHeld);
    const { provider } = item;
    const decision = decideSuccess(this.state(row));
    this.events.push(
      createEvent(
        "token.refreshed",
        {
          connectionId: row.id,
          userId: item.claim.userId,
          provider: provider.id,
          expiresAt: expiresAt?.toISOString() ?? null,
          refreshTokenRotated: rotated,
          recovered: decision.recovered,
          previousStatus: decision.previousStatus,
          ...(item.jobRunId ? { jobRunId: item.jobRunId } : {}),
        },
        { source: EVENT_SOURCE },
      ),
    );
    this.count(item, "refreshed");
  }

  /** The row's new tokens, encrypted under the current key; returns the access token's expiry. */
  private addRefreshedRow(item: SuccessItem, row: LockedRow, releaseClaim: boolean): Date | null {
    const { cipher } = this.context;
    const { result } = item;
    const lifetime = result.expiresIn ?? item.provider.spec.accessTokenLifetimeSec;
    const expiresAt = lifetime === null ? null : new Date(item.receivedAt.getTime() + lifetime * 1000);
    // Kept or rotated, the refresh token ends up under the current key, so both ciphertexts of the
    // row stay under token_key_id (a kept one already under it is left as it is).
    const kept = row.refresh_token_encrypted;
    const keepCiphertext =
      result.refreshToken === undefined && kept !== null && cipher.keyIdOf(kept) === cipher.currentKeyId;
    const rows = this.refreshedRows;
    rows.id.push(row.id);
    rows.accessTokenEncrypted.push(cipher.encrypt(result.accessToken));
    rows.refreshTokenEncrypted.push(
      keepCiphertext && kept !== null ? kept : cipher.encrypt(result.refreshToken ?? item.usedRefreshToken),
    );
    rows.keyId.push(cipher.currentKeyId);
    rows.expiresAt.push(expiresAt);
    rows.expiresNever.push(expiresAt === null);
    rows.scopes.push(result.scope !== undefined ? JSON.stringify(parseScopes(result.scope)) : null);
    rows.releaseClaim.push(releaseClaim);
    return expiresAt;
  }

  private addOperator(item: Extract<WriteItem, { kind: "operator" }>, row: LockedRow): void {
    this.claimsToRelease.push(row.id);
    this.events.push(
      createEvent(
        "token.failed",
        {
          connectionId: item.claim.id,
          userId: item.claim.userId,
          provider: item.provider.id,
          classification: "operator",
          errorCode: item.errorCode,
          errorDescription: `${item.provider.spec.displayName} rejected Syncwell's client configuration; refreshes are held until the operator fixes it. The connection is unchanged.`,
          consecutiveFailures: row.consecutive_failures + row.consecutive_transient_failures,
          consecutiveTransientFailures: row.consecutive_transient_failures,
          previousStatus: row.status,
          status: row.status,
          retryAt: null,
          ...(item.jobRunId ? { jobRunId: item.jobRunId } : {}),
        },
        { source: EVENT_SOURCE },
      ),
    );
    if (item.alert) this.events.push(item.alert);
    this.count(item, "failed", "operator");
  }

  private addFailure(item: Extract<WriteItem, { kind: "failure" }>, row: LockedRow): void {
    // The user reconnected or revoked while the request was out: the failure is about old tokens.
    const current = this.currentToken(row, item.claim, item.usedRefreshToken);
    if (current !== item.usedRefreshToken || !REFRESHABLE.has(row.status) || row.revoked_at !== null) {
      this.claimsToRelease.push(row.id);
      this.count(item, "skipped");
      return;
    }
    const decision = decideFailure(this.state(row), item.failure, item.receivedAt, this.context.random);
    if (decision.kind === "operator") {
      // Cannot happen (the engine classifies first); leave the row.
      this.claimsToRelease.push(row.id);
      this.count(item, "skipped");
      return;
    }
    const rows = this.failedRows;
    rows.id.push(row.id);
    rows.status.push(decision.status);
    rows.consecutiveFailures.push(decision.consecutiveFailures);
    rows.consecutiveTransientFailures.push(decision.consecutiveTransientFailures);
    rows.errorCode.push(decision.errorCode);
    rows.retryAt.push(decision.retryAt);
    rows.answerLost.push(item.failure.answerLost === true);
    const description = item.failure.errorDescription;
    this.events.push(
      createEvent(
        "token.failed",
        {
          connectionId: row.id,
          userId: item.claim.userId,
          provider: item.provider.id,
          classification: decision.classification,
          errorCode: decision.errorCode,
          ...(description ? { errorDescription: description.slice(0, 500) } : {}),
          consecutiveFailures: decision.failuresInARow,
          consecutiveTransientFailures: decision.consecutiveTransientFailures,
          previousStatus: decision.previousStatus,
          status: decision.status,
          retryAt: decision.retryAt?.toISOString() ?? null,
          ...(item.jobRunId ? { jobRunId: item.jobRunId } : {}),
        },
        { source: EVENT_SOURCE },
      ),
    );
    this.context.logger.info(
      {
        connectionId: row.id,
        provider: item.provider.id,
        errorCode: decision.errorCode,
        classification: decision.classification,
        status: decision.status,
        previousStatus: decision.previousStatus,
        retryAt: decision.retryAt,
      },
      "token refresh failed",
    );
    this.count(item, "failed", decision.classification);
  }

  private state(row: LockedRow): ConnectionRefreshState {
    return {
      status: row.status,
      consecutiveFailures: row.consecutive_failures,
      consecutiveTransientFailures: row.consecutive_transient_failures,
    };
  }

  private count(item: WriteItem, outcome: WriteOutcome, classification = "none"): void {
    if (item.kind === "release" && item.requeue && outcome === "skipped") outcome = "released";
    this.outcomes.push(outcome);
    if (outcome === "released" || outcome === "deferred") return;
    this.context.metrics.refreshes.inc({ provider: item.provider.id, outcome, classification });
    if (!item.jobRunId) return;
    let counts = this.jobRunCounts.get(item.jobRunId);
    if (!counts) {
      counts = { checked: 0, refreshed: 0, failed: 0, skipped: 0 };
      this.jobRunCounts.set(item.jobRunId, counts);
    }
    counts.checked += 1;
    counts[outcome] += 1;
  }

  /** Writes the batch: rows, outbox events and the job runs' counts, in the caller's transaction. */
  async write(client: pg.PoolClient): Promise<void> {
    if (this.refreshedRows.id.length > 0) await this.writeRefreshed(client);
    if (this.failedRows.id.length > 0) await this.writeFailed(client);
    if (this.claimsToRelease.length > 0) {
      await client.query(
        `UPDATE connections SET refresh_claimed_until = NULL, refresh_claimed_by = NULL
         WHERE id = ANY($1::uuid[]) AND refresh_claimed_by = $2`,
        [this.claimsToRelease, this.context.claimedBy],
      );
    }
    if (this.events.length > 0) await enqueueEvents(client, this.events);
    // The run's counts commit with the rows they count, so a run that sees no claim left also
    // sees every count.
    for (const [jobRunId, counts] of this.jobRunCounts) await recordJobRunCounts(client, jobRunId, counts);
  }

  private async writeRefreshed(client: pg.PoolClient): Promise<void> {
    const rows = this.refreshedRows;
    await client.query(
      `UPDATE connections c SET
         access_token_encrypted = u.access_token_encrypted,
         refresh_token_encrypted = u.refresh_token_encrypted,
         token_key_id = u.key_id,
         access_token_expires_at = u.expires_at,
         token_expires_never = u.expires_never,
         scopes = CASE WHEN u.scopes IS NULL THEN c.scopes ELSE ARRAY(SELECT jsonb_array_elements_text(u.scopes)) END,
         status = 'connected', consecutive_failures = 0, consecutive_transient_failures = 0,
         last_error_code = NULL, next_retry_at = NULL, refresh_answer_lost_at = NULL,
         last_refreshed_at = now(), refresh_token_last_used_at = now(), last_refresh_attempt_at = now(),
         refresh_claimed_until = CASE WHEN u.release_claim THEN NULL ELSE c.refresh_claimed_until END,
         refresh_claimed_by = CASE WHEN u.release_claim THEN NULL ELSE c.refresh_claimed_by END,
         updated_at = now()
       FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::bool[], $7::jsonb[], $8::bool[])
         AS u(id, access_token_encrypted, refresh_token_encrypted, key_id, expires_at, expires_never, scopes, release_claim)
       WHERE c.id = u.id`,
      [
        rows.id,
        rows.accessTokenEncrypted,
        rows.refreshTokenEncrypted,
        rows.keyId,
        rows.expiresAt,
        rows.expiresNever,
        rows.scopes,
        rows.releaseClaim,
      ],
    );
  }

  private async writeFailed(client: pg.PoolClient): Promise<void> {
    const rows = this.failedRows;
    await client.query(
      `UPDATE connections c SET
         status = u.status, consecutive_failures = u.consecutive_failures,
         consecutive_transient_failures = u.consecutive_transient_failures,
         last_error_code = u.error_code, last_failure_at = now(), next_retry_at = u.retry_at,
         refresh_answer_lost_at = CASE WHEN u.answer_lost THEN now() ELSE NULL END,
         last_refresh_attempt_at = now(), refresh_claimed_until = NULL, refresh_claimed_by = NULL,
         updated_at = now()
       FROM unnest($1::uuid[], $2::text[], $3::int[], $4::int[], $5::text[], $6::timestamptz[], $7::bool[])
         AS u(id, status, consecutive_failures, consecutive_transient_failures, error_code, retry_at, answer_lost)
       WHERE c.id = u.id`,
      [
        rows.id,
        rows.status,
        rows.consecutiveFailures,
        rows.consecutiveTransientFailures,
        rows.errorCode,
        rows.retryAt,
        rows.answerLost,
      ],
    );
  }
}

/** Locks the rows of a batch (`FOR UPDATE`, in id order so concurrent writers cannot deadlock). */
export async function lockRows(
  client: pg.PoolClient,
  ids: readonly string[],
): Promise<Map<string, LockedRow>> {
  const { rows } = await client.query<LockedRow>(
    `SELECT id, status, refresh_token_encrypted, consecutive_failures, consecutive_transient_failures,
            refresh_claimed_by, revoked_at
     FROM connections WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`,
    [ids],
  );
  return new Map(rows.map((r) => [r.id, r]));
}
