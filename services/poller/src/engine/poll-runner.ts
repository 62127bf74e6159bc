import { enqueueEvents, outboxRow } from "@syncwell/bus";
import { createEvent } from "@syncwell/contracts";
import { withTransaction } from "@syncwell/db";
import type { Logger } from "@syncwell/telemetry";
import type { Page, PollContext, RawRecordInput, SkippedItem } from "../adapters/connectors/connector.ts";
import { CursorExpiredError, malformed, PlatformError } from "../adapters/connectors/errors.ts";
import { createPlatformHttp, PollAbortedError, TokenExpiringError } from "../adapters/platform-http.ts";
import { payloadJson } from "../domain/payload-json.ts";
import { backoffMs, grantsAnyOf, intervalFor, tokenUsable } from "../domain/schedule.ts";
import { bucketKeyOf, type ClaimedSyncState } from "../repositories/poll-claims.repository.ts";
import { type PollTotals, type PreparedRecord, zeroTotals } from "../repositories/records.repository.ts";
import {
  delayConnection,
  type ErrorKind,
  pauseForScopes,
  recordFailure,
  releaseClaim,
  resetCursor,
  type SyncStateKey,
} from "../repositories/sync-state.repository.ts";
import { type CommunicationItem, communicationCandidates, selfAddressesOf } from "./communication.ts";
import type { PageWriter } from "./page-writer.ts";
import type { PollEngineOptions } from "./poll-engine.ts";
import type { PollCounts } from "./settings.ts";

/** What a poll needs: the engine's own dependencies, minus its identity, plus the page writer. */
export type RunnerDeps = Omit<PollEngineOptions, "replicaId" | "source"> & {
  /** Writes each page with its records, cursor and events (group commit across polls). */
  pageWriter: PageWriter;
  /** `source` of the events the poller publishes. */
  source: string;
  /** False when a refresh was requested for this connection moments ago (several resources got a 401). */
  shouldRequestRefresh(connectionId: string): boolean;
};

export type PollOutcome =
  | { outcome: "polled"; pages: number }
  | { outcome: "failed"; kind: ErrorKind; message: string }
  | {
      outcome: "skipped";
      reason:
        | "token_expiring"
        | "unauthorized"
        | "rate_limited"
        | "aborted"
        | "claim_lost"
        | "yielded"
        | "scope_missing"
        | "unknown";
    };

/** Result of one poll: what happened, and what this attempt stored (for the run's counts). */
export type PollResult = PollOutcome & { stored: Partial<PollCounts> };

/** The claim was taken over (its lease lapsed): this poll must not write anything more. */
class ClaimLostError extends Error {
  override readonly name = "ClaimLostError";
}

function totalsFrom(counts: Record<string, number> | null | undefined): PollTotals {
  const totals = zeroTotals();
  for (const key of Object.keys(totals) as (keyof PollTotals)[]) {
    const value = counts?.[key];
    if (typeof value === "number") totals[key] = value;
  }
  return totals;
}

const MAX_EXTERNAL_ID = 1_024;
const MAX_EVENT_CURSOR = 2_048;
/** Skipped items named in a page's log line; the count covers the rest. */
const SKIPPED_LOGGED = 20;

type PreparedPage = {
  records: PreparedRecord[];
  skipped: SkippedItem[];
  communications: Map<
    string,
    { communication: NonNullable<RawRecordInput["communication"]>; occurredAt: Date | null }
  >;
};

/**
 * Checks a page's records against the connector contract and prepares them for storage: payload
 * as JSON text, one record per external id (the last one wins). A record that breaks the
 * contract makes the page malformed: the poll fails with the reason, nothing of the page is stored.
 */
export function preparePage(page: Page): PreparedPage {
  if (typeof page !== "object" || page === null || !Array.isArray(page.records)) {
    throw malformed("page", "the connector returned no records array");
  }
  const byId = new Map<string, PreparedRecord>();
  const communications: PreparedPage["communications"] = new Map();
  page.records.forEach((record, i) => {
    const id = record?.externalId;
    if (typeof id !== "string" || id.length === 0 || id.length > MAX_EXTERNAL_ID) {
      throw malformed("record", `record ${i} has no usable externalId`);
    }
    // Postgres text cannot hold NUL: the page statement would fail for every page of its batch.
    if (id.includes("\u0000"))
      throw malformed("record", `record ${i} has an externalId holding a NUL character`);
    if (record.payload === undefined) throw malformed("record", `record ${id} has no payload`);
    let occurredAt: Date | null = null;
    if (record.occurredAt !== undefined) {
      if (!(record.occurredAt instanceof Date) || Number.isNaN(record.occurredAt.getTime())) {
        throw malformed("record", `record ${id} has an invalid occurredAt`);
      }
      occurredAt = record.occurredAt;
    }
    let json: string;
    try {
      json = payloadJson(record.payload);
    } catch (err) {
      throw malformed("record", `record ${id} has a payload that is not JSON: ${(err as Error).message}`);
    }
    byId.delete(id); // re-inserted last: Map order follows the latest occurrence
    byId.set(id, { externalId: id, payloadJson: json, occurredAt });
    const comm = record.communication;
    communications.delete(id);
    if (comm !== undefined) {
      if (
        (comm.channel !== "email" && comm.channel !== "meeting") ||
        !Array.isArray(comm.to) ||
        !comm.to.every((a) => typeof a === "string") ||
        (comm.from !== null && typeof comm.from !== "string")
      ) {
        throw malformed("record", `record ${id} has an invalid communication`);
      }
      communications.set(id, { communication: comm, occurredAt });
    }
  });
  return { records: [...byId.values()], communications, skipped: checkSkipped(page.skipped) };
}

function checkSkipped(skipped: unknown): SkippedItem[] {
  if (skipped === undefined) return [];
  const valid =
    Array.isArray(skipped) &&
    skipped.every(
      (item: Partial<SkippedItem> | null) =>
        typeof item?.reason === "string" && (item.id === null || typeof item.id === "string"),
    );
  if (!valid) throw malformed("page", "the connector returned an invalid skipped list");
  return skipped;
}

/**
 * Counts a page's skipped items by reason and names them in one log line: ids and reasons only,
 * never an item's content (it may be a message's subject or a calendar's attendees).
 */
export function reportSkipped(
  deps: RunnerDeps,
  claim: ClaimedSyncState,
  skipped: SkippedItem[],
  log: Logger,
): void {
  const byReason = new Map<string, number>();
  for (const item of skipped) byReason.set(item.reason, (byReason.get(item.reason) ?? 0) + 1);
  for (const [reason, n] of byReason) {
    deps.metrics.itemsSkipped.inc({ platform: claim.platform, resource: claim.resource, reason }, n);
  }
  log.warn(
    { skipped: skipped.length, items: skipped.slice(0, SKIPPED_LOGGED) },
    "skipped items the connector cannot use; the rest of the page was stored",
  );
}

/**
 * One poll of one claimed resource: pages until the last one (or the page budget). Each page's
 * records, communication events and resume point are written by one statement (shared with other
 * polls' pages, see PageWriter); the last page carries the final cursor and `data.ingested` into
 * the outbox in that same statement. Every error is turned into an outcome here: one broken
 * connection never stops the batch.
 */
export async function runPoll(
  deps: RunnerDeps,
  claim: ClaimedSyncState,
  options: { signal: AbortSignal; jobRunId?: string },
): Promise<PollResult> {
  const { settings, pool } = deps;
  const key: SyncStateKey = {
    connectionId: claim.connectionId,
    platform: claim.platform,
    resource: claim.resource,
  };
  const tag = claim.claimedBy;
  // Built on first use: most polls never log.
  let childLogger: Logger | undefined;
  const log = () => {
    childLogger ??= deps.logger.child({
      connectionId: claim.connectionId,
      platform: claim.platform,
      resource: claim.resource,
    });
    return childLogger;
  };
  const runtime = deps.platforms.get(claim.platform);
  const resource = runtime?.connector.resources.find((r) => r.name === claim.resource);
  const stored: Partial<PollCounts> = {};

  if (!runtime || !resource) {
    await releaseClaim(pool, key, tag, settings.defaultIntervalMs);
    return { outcome: "skipped", reason: "unknown", stored };
  }
  const required = resource.requiredScopes ?? [];
  if (!grantsAnyOf(claim.scopes, required)) {
    const message = `the connection no longer has any of the scopes ${required.join(", ")}`;
    const held = await pauseForScopes(pool, key, tag, message);
    if (!held) return { outcome: "skipped", reason: "claim_lost", stored };
    log().info({ requiredScopes: required }, "resource paused: the connection no longer grants it");
    return { outcome: "skipped", reason: "scope_missing", stored };
  }

  const fail = async (kind: ErrorKind, message: string, retryInMs: number, countsAsFailure = true) => {
    const held = await recordFailure(pool, key, tag, { kind, message, retryInMs, countsAsFailure });
    if (!held) return { outcome: "skipped" as const, reason: "claim_lost" as const, stored };
    return { outcome: "failed" as const, kind, message, stored };
  };
  const interval = intervalFor(
    settings.intervals,
    settings.defaultIntervalMs,
    claim.platform,
    claim.resource,
  );
  const backoff = () =>
    backoffMs(claim.consecutiveFailures + 1, settings.backoffBaseMs, settings.backoffMaxMs);

  // The token: readable, and valid for long enough (checked again before every request).
  if (claim.accessTokenEncrypted === null)
    return fail("token", "the connection has no access token", interval);
  let accessToken: string;
  try {
    accessToken = deps.cipher.decrypt(claim.accessTokenEncrypted);
  } catch (err) {
    // Key ids only, never key material (TokenCipherError messages).
    log().error({ err }, "cannot decrypt the connection's access token (TOKEN_ENCRYPTION_KEYS?)");
    return fail("token", `access token unreadable: ${(err as Error).message}`, interval);
  }
  const tokenExpiresAt = claim.tokenExpiresNever ? null : claim.accessTokenExpiresAt;
  if (
    !tokenUsable(
      { expiresAt: tokenExpiresAt, expiresNever: claim.tokenExpiresNever },
      Date.now(),
      settings.minTokenValidityMs,
    )
  ) {
    await releaseClaim(pool, key, tag);
    return { outcome: "skipped", reason: "token_expiring", stored };
  }

  const bucketKey = bucketKeyOf(claim.platform);
  const http = createPlatformHttp({
    platform: claim.platform,
    baseUrl: runtime.baseUrl,
    accessToken,
    tokenExpiresAt,
    limiter: deps.limiter,
    bucketKey,
    timeoutMs: settings.requestTimeoutMs,
    signal: options.signal,
    onResponse: (status, ms) => deps.metrics.observeRequest(claim.platform, status, ms),
  });
  const now = new Date();
  const windowStart = new Date(now.getTime() - settings.firstSyncWindowMs);
  // data.ingested carries the window only when the connector actually queried by it.
  let windowUsed = false;
  const ctx: PollContext = {
    http,
    connection: {
      id: claim.connectionId,
      userId: claim.userId,
      providerAccountId: claim.providerAccountId,
      scopes: claim.scopes,
    },
    get windowStart() {
      windowUsed = true;
      return windowStart;
    },
    now,
    signal: options.signal,
  };
  const selfAddresses = selfAddressesOf(claim.userEmail, claim.providerAccountId);

  let cursor = claim.cursor;
  let pageToken = claim.pageToken;
  let fullListing = claim.fullListing;
  let pollStartedAt = claim.pollStartedAt;
  let fullSync = claim.cursor === null;
  let totals = totalsFrom(claim.pollCounts);
  let resetDone = false;
  let pages = 0;

  try {
    for (;;) {
      let page: Page;
      try {
        page = await resource.fetchPage(ctx, { cursor, pageToken });
      } catch (err) {
        if (err instanceof CursorExpiredError && !resetDone) {
          // The platform forgot our cursor: start over with a full listing, under the same claim.
          resetDone = true;
          log().info({ reason: err.message }, "cursor rejected; starting a full sync");
          const started = await resetCursor(pool, key, tag);
          if (!started) throw new ClaimLostError();
          cursor = null;
          pageToken = null;
          fullListing = false;
          pollStartedAt = started;
          fullSync = true;
          totals = totalsFrom(undefined);
          continue;
        }
        throw err;
      }
      pages += 1;
      const prepared = preparePage(page);
      fullListing = pageToken === null ? page.fullListing === true : fullListing || page.fullListing === true;
      const next = page.notModified ? null : (page.nextPageToken ?? null);
      if (next !== null && next === pageToken) {
        throw malformed("page", "the platform returned the same page token again");
      }
      const last = next === null;
      const newCursor = last && page.nextCursor !== undefined ? page.nextCursor : cursor;

      const items: CommunicationItem[] = [];
      for (const [externalId, comm] of prepared.communications) {
        items.push({ externalId, communication: comm.communication, occurredAt: comm.occurredAt ?? now });
      }
      const eventCursor = newCursor !== null && newCursor.length <= MAX_EVENT_CURSOR ? newCursor : null;
      const result = await deps.pageWriter.write({
        ref: key,
        claimToken: tag,
        userId: claim.userId,
        records: prepared.records,
        communications: communicationCandidates(items, selfAddresses),
        before: totals,
        skipped: prepared.skipped.length,
        fullListing,
        pollStartedAt,
        next: last ? null : { pageToken: next, leaseMs: settings.leaseMs },
        done: last
          ? {
              cursor: newCursor,
              nextPollInMs: interval,
              // The counts are the poll's totals, filled in by the same statement that stores the page.
              event: outboxRow(
                createEvent(
                  "data.ingested",
                  {
                    connectionId: claim.connectionId,
                    userId: claim.userId,
                    provider: runtime.connector.provider,
                    resource: `${claim.platform}.${claim.resource}`,
                    counts: { added: 0, updated: 0, unchanged: 0, deleted: 0 },
                    cursor: eventCursor,
                    ...(windowUsed
                      ? { window: { from: windowStart.toISOString(), to: now.toISOString() } }
                      : {}),
                    communicationEventsCreated: 0,
                    fullSync,
                    ...(options.jobRunId ? { jobRunId: options.jobRunId } : {}),
                  },
                  { source: deps.source },
                ),
              ),
            }
          : null,
      });
      if (!result.claimHeld) throw new ClaimLostError();

      totals = result.totals;
      stored.records_added = (stored.records_added ?? 0) + result.page.added;
      stored.records_updated = (stored.records_updated ?? 0) + result.page.updated;
      stored.records_unchanged = (stored.records_unchanged ?? 0) + result.page.unchanged;
      stored.records_deleted = (stored.records_deleted ?? 0) + result.page.deleted;
      stored.communication_events = (stored.communication_events ?? 0) + result.page.communicationEvents;
      if (prepared.skipped.length > 0) {
        stored.items_skipped = (stored.items_skipped ?? 0) + prepared.skipped.length;
        reportSkipped(deps, claim, prepared.skipped, log());
      }
      if (last) return { outcome: "polled", pages, stored };
      pageToken = next;
      if (pages >= settings.maxPagesPerPoll) {
        // Yield to other resources; the poll resumes from its page token as soon as it is claimed again.
        await releaseClaim(pool, key, tag);
        return { outcome: "skipped", reason: "yielded", stored };
      }
    }
  } catch (err) {
    return handleError(err);
  }

  async function handleError(err: unknown): Promise<PollResult> {
    try {
      if (err instanceof ClaimLostError) {
        log().warn("claim lapsed and was taken over; this poll stopped without writing");
        return { outcome: "skipped", reason: "claim_lost", stored };
      }
      if (err instanceof PollAbortedError || options.signal.aborted) {
        await releaseClaim(pool, key, tag);
        return { outcome: "skipped", reason: "aborted", stored };
      }
      if (err instanceof TokenExpiringError) {
        await releaseClaim(pool, key, tag);
        return { outcome: "skipped", reason: "token_expiring", stored };
      }
      if (err instanceof CursorExpiredError) {
        return await fail("cursor_expired", `cursor rejected again after a reset: ${err.message}`, backoff());
      }
      if (err instanceof PlatformError) {
        switch (err.kind) {
          case "unauthorized":
            return await unauthorized(err);
          case "rate_limited": {
            const waitMs = err.retryAfterMs ?? 60_000;
            let retryInMs = waitMs;
            // An answer of the platform (a status), not the platform's bucket already blocked.
            if (runtime?.connector.rateLimitedPer === "connection" && err.status !== undefined) {
              const delayed = await delayConnection(pool, claim.connectionId, { waitMs }, claim.platform);
              log().warn(
                { retryInMs: waitMs, status: err.status, delayed },
                "rate limit of this connection's token: its resources wait, the platform goes on",
              );
            } else {
              const until = await deps.limiter.block(bucketKey, waitMs);
              log().warn({ until, status: err.status }, "platform rate limit: the whole platform waits");
              retryInMs = Math.max(waitMs, until.getTime() - Date.now());
            }
            const held = await recordFailure(pool, key, tag, {
              kind: "rate_limited",
              message: err.message,
              retryInMs,
              countsAsFailure: false,
            });
            return held
              ? { outcome: "skipped", reason: "rate_limited", stored: { ...stored, rate_limited: 1 } }
              : { outcome: "skipped", reason: "claim_lost", stored };
          }
          case "transient":
            log().warn({ err: err.message, status: err.status }, "transient platform failure; backing off");
            return await fail("transient", err.message, backoff());
          case "malformed":
            log().warn({ err: err.message }, "malformed platform payload");
            return await fail(
              "malformed",
              err.message,
              Math.max(backoff(), Math.min(interval, settings.backoffMaxMs)),
            );
          case "permanent":
            log().warn({ err: err.message, status: err.status }, "platform refused the request");
            return await fail("permanent", err.message, interval);
        }
      }
      // A connector bug or a database error: recorded like a transient failure, with backoff.
      log().error({ err }, "poll failed unexpectedly");
      return await fail("transient", `unexpected error: ${(err as Error).message ?? String(err)}`, backoff());
    } catch (writeErr) {
      // The failure could not even be recorded (database unreachable): the lease lapses and the
      // resource is claimed again later.
      log().error({ err: writeErr, cause: err }, "could not record the outcome of a poll");
      return { outcome: "failed", kind: "transient", message: (writeErr as Error).message, stored };
    }
  }

  async function unauthorized(err: PlatformError): Promise<PollResult> {
    const request = deps.shouldRequestRefresh(claim.connectionId);
    const held = await withTransaction(pool, async (client) => {
      const ok = await recordFailure(client, key, tag, {
        kind: "unauthorized",
        message: `${err.message}; token refresh requested`,
        retryInMs: settings.unauthorizedDelayMs,
        countsAsFailure: false,
      });
      if (ok && request) {
        await enqueueEvents(
          client,
          createEvent(
            "token.refresh-requested",
            {
              connectionId: claim.connectionId,
              userId: claim.userId,
              provider: claim.provider,
              reason: `${http.lastRequest ?? claim.platform} returned 401 Unauthorized`.slice(0, 500),
            },
            { source: deps.source },
          ),
        );
      }
      return ok;
    });
    log().info({ refreshRequested: request }, "platform answered 401; waiting for a refreshed token");
    if (!held) return { outcome: "skipped", reason: "claim_lost", stored };
    return {
      outcome: "skipped",
      reason: "unauthorized",
      stored: { ...stored, refresh_requested: request ? 1 : 0 },
    };
  }
}
