import { enqueueEvents } from "@syncwell/bus";
import { type AnyEvent, type ConnectionStatus, createEvent } from "@syncwell/contracts";
import type { TokenCipher } from "@syncwell/credentials";
import { recordJobRunCounts, withTransaction } from "@syncwell/db";
import { sleep } from "@syncwell/runtime";
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
import type { ClaimedConnection } from "./claims.repository.ts";
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
        /** The refresh token that was presented: compared with the row's under the lock. */
        usedRefreshToken: string;
        result: RefreshSuccess;
        receivedAt: Date;
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

/** `released`: handed back without an attempt (a requeue release); not counted. */
export type WriteOutcome = "refreshed" | "failed" | "skipped" | "released";

type Pending = { item: WriteItem; resolve: (o: WriteOutcome) => void; reject: (e: Error) => void };

type LockedRow = {
  id: string;
  status: ConnectionStatus;
  refresh_token_encrypted: string | null;
  consecutive_failures: number;
  consecutive_transient_failures: number;
  refresh_claimed_by: string | null;
  revoked_at: Date | null;
};

const REFRESHABLE: ReadonlySet<string> = new Set(["connected", "warning", "rate_limited"]);

export type OutcomeWriterOptions = {
  pool: pg.Pool;
  cipher: TokenCipher;
  /** This replica's claim id; rows claimed by anyone else since are not written. */
  claimedBy: string;
  logger: Logger;
  metrics: RefreshMetrics;
  /** Items per transaction. */
  maxBatch?: number;
  /** How long the first item of a batch waits for company. */
  lingerMs?: number;
  /** Transactions in flight at once. */
  maxConcurrentFlushes?: number;
  /** Attempts per transaction before its items are given up (their claims lapse on their own). */
  maxAttempts?: number;
  random?: () => number;
};

/**
 * Group commit of refresh outcomes. Each transaction locks its rows (`SELECT … FOR UPDATE`, in id
 * order so concurrent writers cannot deadlock), re-reads them, and per row either writes the
 * outcome or skips it when the row moved on meanwhile: claimed by another worker (our lease ran
 * out), tokens replaced (the user reconnected), revoked. A success stores the new access token and
 * the rotated refresh token together (or keeps the old refresh token when the response had none),
 * and the `token.*` events go into the outbox in the same transaction, with the job run's counts.
 *
 * Why batches: a transaction per connection costs five round trips and a WAL flush each; at
 * 1,000 refreshes/s the commits alone would saturate a small Postgres. Rows in one batch are
 * independent: each gets exactly the checks a per-connection transaction would give it.
 */
export class OutcomeWriter {
  private readonly options: Required<Omit<OutcomeWriterOptions, "random">> & { random: () => number };
  private queue: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing = 0;
  private readonly idleWaiters: Array<() => void> = [];

  constructor(options: OutcomeWriterOptions) {
    this.options = {
      maxBatch: 250,
      lingerMs: 5,
      maxConcurrentFlushes: 3,
      maxAttempts: 5,
      random: Math.random,
      ...options,
    };
  }

  /** Items queued or being written. */
  get pending(): number {
    return this.queue.length + this.flushing * this.options.maxBatch;
  }

  submit(item: WriteItem): Promise<WriteOutcome> {
    return new Promise<WriteOutcome>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /** Resolves when everything submitted so far is written (or given up). */
  async drain(): Promise<void> {
    while (this.queue.length > 0 || this.flushing > 0) {
      if (this.queue.length > 0 && this.flushing < this.options.maxConcurrentFlushes) this.startFlush();
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
  }

  private schedule(): void {
    if (this.queue.length >= this.options.maxBatch && this.flushing < this.options.maxConcurrentFlushes) {
      this.startFlush();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      if (this.queue.length > 0) {
        if (this.flushing < this.options.maxConcurrentFlushes) this.startFlush();
        else this.schedule();
      }
    }, this.options.lingerMs);
  }

  private startFlush(): void {
    const batch = this.queue.splice(0, this.options.maxBatch);
    if (batch.length === 0) return;
    this.flushing += 1;
    void this.flushWithRetry(batch).finally(() => {
      this.flushing -= 1;
      for (const wake of this.idleWaiters.splice(0)) wake();
      if (this.queue.length > 0) this.schedule();
    });
  }

  private async flushWithRetry(batch: Pending[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const outcomes = await this.flush(batch.map((p) => p.item));
        batch.forEach((p, i) => {
          p.resolve(outcomes[i] ?? "skipped");
        });
        return;
      } catch (err) {
        if (attempt >= this.options.maxAttempts) {
          this.options.logger.error(
            { err, connections: batch.map((p) => p.item.claim.id), attempts: attempt },
            "could not write refresh outcomes; their claims will lapse and the next run retries them",
          );
          for (const p of batch) p.reject(err as Error);
          return;
        }
        // A rotated refresh token exists only in this batch now: worth waiting for the database.
        this.options.logger.warn(
          { err, attempt, size: batch.length },
          "writing refresh outcomes failed; retrying",
        );
        await sleep(200 * 2 ** (attempt - 1));
      }
    }
  }

  private async flush(items: WriteItem[]): Promise<WriteOutcome[]> {
    const { cipher, claimedBy, metrics, logger } = this.options;
    return withTransaction(this.options.pool, async (client) => {
      const ids = items.map((i) => i.claim.id);
      const { rows } = await client.query<LockedRow>(
        `SELECT id, status, refresh_token_encrypted, consecutive_failures, consecutive_transient_failures,
                refresh_claimed_by, revoked_at
         FROM connections WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`,
        [ids],
      );
      const locked = new Map(rows.map((r) => [r.id, r]));
      const outcomes: WriteOutcome[] = [];
      const events: AnyEvent[] = [];
      const releases: string[] = [];
      const ok = {
        id: [] as string[],
        access: [] as string[],
        refresh: [] as string[],
        keyId: [] as string[],
        expiresAt: [] as (Date | null)[],
        never: [] as boolean[],
        scopes: [] as (string | null)[],
      };
      const failed = {
        id: [] as string[],
        status: [] as string[],
        cf: [] as number[],
        ctf: [] as number[],
        code: [] as string[],
        retryAt: [] as (Date | null)[],
      };
      const counts = new Map<
        string,
        { checked: number; refreshed: number; failed: number; skipped: number }
      >();
      const count = (item: WriteItem, outcome: WriteOutcome, classification = "none") => {
        if (item.kind === "release" && item.requeue && outcome === "skipped") outcome = "released";
        outcomes.push(outcome);
        if (outcome === "released") return;
        metrics.refreshes.inc({ provider: item.provider.id, outcome, classification });
        if (!item.jobRunId) return;
        let c = counts.get(item.jobRunId);
        if (!c) {
          c = { checked: 0, refreshed: 0, failed: 0, skipped: 0 };
          counts.set(item.jobRunId, c);
        }
        c.checked += 1;
        c[outcome] += 1;
      };
      const seen = new Set<string>();

      for (const item of items) {
        const row = locked.get(item.claim.id);
        const mine = row !== undefined && row.refresh_claimed_by === claimedBy && !seen.has(item.claim.id);
        seen.add(item.claim.id);
        if (!row || !mine) {
          if (item.kind === "success" && item.result.refreshToken !== undefined) {
            logger.error(
              { connectionId: item.claim.id, provider: item.provider.id },
              "refresh succeeded after this replica's claim lapsed and another worker took the connection; the rotated refresh token is discarded",
            );
          }
          count(item, "skipped");
          continue;
        }
        if (item.kind === "release") {
          releases.push(row.id);
          count(item, "skipped");
          continue;
        }
        if (item.kind === "operator") {
          releases.push(row.id);
          events.push(
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
          if (item.alert) events.push(item.alert);
          count(item, "failed", "operator");
          continue;
        }
        // The row must still hold the refresh token we presented and still be refreshable;
        // otherwise the user reconnected or revoked while the request was out.
        let current: string | null = null;
        if (row.refresh_token_encrypted === item.claim.refreshTokenEncrypted) {
          current = item.usedRefreshToken; // the ciphertext we decrypted before the request
        } else {
          // Changed: re-encrypted under another key (same token), or replaced by a reconnect.
          try {
            current = row.refresh_token_encrypted ? cipher.decrypt(row.refresh_token_encrypted) : null;
          } catch {
            current = null;
          }
        }
        if (current !== item.usedRefreshToken || !REFRESHABLE.has(row.status) || row.revoked_at !== null) {
          releases.push(row.id);
          count(item, "skipped");
          continue;
        }
        const state: ConnectionRefreshState = {
          status: row.status,
          consecutiveFailures: row.consecutive_failures,
          consecutiveTransientFailures: row.consecutive_transient_failures,
        };

        if (item.kind === "success") {
          const decision = decideSuccess(state);
          const { result, provider } = item;
          const rotated = result.refreshToken !== undefined && result.refreshToken !== item.usedRefreshToken;
          const lifetime = result.expiresIn ?? provider.spec.accessTokenLifetimeSec;
          const expiresAt = lifetime === null ? null : new Date(item.receivedAt.getTime() + lifetime * 1000);
          ok.id.push(row.id);
          ok.access.push(cipher.encrypt(result.accessToken));
          // Kept or rotated, the refresh token ends up under the current key, so both ciphertexts
          // of the row stay under token_key_id (a kept one already under it is left as it is).
          const kept = row.refresh_token_encrypted;
          const keepCiphertext =
            result.refreshToken === undefined &&
            kept !== null &&
            cipher.keyIdOf(kept) === cipher.currentKeyId;
          ok.refresh.push(
            keepCiphertext && kept !== null
              ? kept
              : cipher.encrypt(result.refreshToken ?? item.usedRefreshToken),
          );
          ok.keyId.push(cipher.currentKeyId);
          ok.expiresAt.push(expiresAt);
          ok.never.push(expiresAt === null);
          ok.scopes.push(result.scope !== undefined ? JSON.stringify(parseScopes(result.scope)) : null);
          events.push(
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
          count(item, "refreshed");
          continue;
        }

        const decision = decideFailure(state, item.failure, item.receivedAt, this.options.random);
        if (decision.kind === "operator") {
          // Classified as operator only here (cannot happen: the runner classifies first). Leave the row.
          releases.push(row.id);
          count(item, "skipped");
          continue;
        }
        failed.id.push(row.id);
        failed.status.push(decision.status);
        failed.cf.push(decision.consecutiveFailures);
        failed.ctf.push(decision.consecutiveTransientFailures);
        failed.code.push(decision.errorCode);
        failed.retryAt.push(decision.retryAt);
        const description = item.failure.errorDescription;
        events.push(
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
        logger.info(
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
        count(item, "failed", decision.classification);
      }

      if (ok.id.length > 0) {
        await client.query(
          `UPDATE connections c SET
             access_token_encrypted = u.access,
             refresh_token_encrypted = u.refresh,
             token_key_id = u.key_id,
             access_token_expires_at = u.expires_at,
             token_expires_never = u.never,
             scopes = CASE WHEN u.scopes IS NULL THEN c.scopes ELSE ARRAY(SELECT jsonb_array_elements_text(u.scopes)) END,
             status = 'connected', consecutive_failures = 0, consecutive_transient_failures = 0,
             last_error_code = NULL, next_retry_at = NULL,
             last_refreshed_at = now(), refresh_token_last_used_at = now(), last_refresh_attempt_at = now(),
             refresh_claimed_until = NULL, refresh_claimed_by = NULL, updated_at = now()
           FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::bool[], $7::jsonb[])
             AS u(id, access, refresh, key_id, expires_at, never, scopes)
           WHERE c.id = u.id`,
          [ok.id, ok.access, ok.refresh, ok.keyId, ok.expiresAt, ok.never, ok.scopes],
        );
      }
      if (failed.id.length > 0) {
        await client.query(
          `UPDATE connections c SET
             status = u.status, consecutive_failures = u.cf, consecutive_transient_failures = u.ctf,
             last_error_code = u.code, last_failure_at = now(), next_retry_at = u.retry_at,
             last_refresh_attempt_at = now(), refresh_claimed_until = NULL, refresh_claimed_by = NULL,
             updated_at = now()
           FROM unnest($1::uuid[], $2::text[], $3::int[], $4::int[], $5::text[], $6::timestamptz[])
             AS u(id, status, cf, ctf, code, retry_at)
           WHERE c.id = u.id`,
          [failed.id, failed.status, failed.cf, failed.ctf, failed.code, failed.retryAt],
        );
      }
      if (releases.length > 0) {
        await client.query(
          `UPDATE connections SET refresh_claimed_until = NULL, refresh_claimed_by = NULL
           WHERE id = ANY($1::uuid[]) AND refresh_claimed_by = $2`,
          [releases, claimedBy],
        );
      }
      if (events.length > 0) await enqueueEvents(client, events);
      // The run's counts commit with the rows they count, so a run that sees no claim left
      // also sees every count.
      for (const [jobRunId, c] of counts) await recordJobRunCounts(client, jobRunId, c);
      return outcomes;
    });
  }
}
