import { outboxRow } from "@syncwell/bus";
import { type CommunicationItem, communicationCandidates, selfAddressesOf } from "@syncwell/communication";
import { createEvent } from "@syncwell/contracts";
import type { Logger } from "@syncwell/telemetry";
import type { Page, PollContext, ResourceDefinition } from "../adapters/connectors/connector.ts";
import { CursorExpiredError, malformed } from "../adapters/connectors/errors.ts";
import { createPlatformHttp } from "../adapters/platform-http.ts";
import { grantsAnyOf, intervalFor, tokenUsable } from "../domain/schedule.ts";
import { bucketKeyOf, type ClaimedSyncState } from "../repositories/poll-claims.repository.ts";
import {
  type PageResult,
  type PageWrite,
  type PollTotals,
  zeroTotals,
} from "../repositories/records.repository.ts";
import {
  type ErrorKind,
  pauseForScopes,
  releaseClaim,
  resetCursor,
  type SyncStateKey,
} from "../repositories/sync-state.repository.ts";
import type { PageWriter } from "./page-writer.ts";
import type { PollEngineOptions } from "./poll-engine.ts";
import { ClaimLostError, outcomeOfFailure, recordFailedPoll } from "./poll-failure.ts";
import { type PreparedPage, preparePage, reportSkipped } from "./prepare-page.ts";
import type { PlatformRuntime, PollCounts } from "./settings.ts";

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

/** One poll of one claimed row, as its steps share it. */
export type PollAttempt = {
  deps: RunnerDeps;
  claim: ClaimedSyncState;
  key: SyncStateKey;
  /** The claim (`claimed_by`) this poll holds: every write names it, and fails once it is taken over. */
  claimToken: string;
  signal: AbortSignal;
  jobRunId: string | undefined;
  /** The poll's logger (with its connection and resource), built on first use: most polls never log. */
  log(): Logger;
  /** What this attempt stored so far, added to as pages are written. */
  stored: Partial<PollCounts>;
  /** The resource's polling interval: the next poll after a success, or after a permanent failure. */
  intervalMs: number;
};

/** The connector resource a claimed row names, with its platform. */
type PollTarget = { runtime: PlatformRuntime; resource: ResourceDefinition };

/** What the poll talks to the platform with, and what its data.ingested reports of the window. */
type PlatformSession = {
  http: ReturnType<typeof createPlatformHttp>;
  ctx: PollContext;
  bucketKey: string;
  /** The user's own addresses, never a counterpart (see communicationCandidates). */
  selfAddresses: Set<string>;
  now: Date;
  windowStart: Date;
  /** The connector read `ctx.windowStart`: the poll queried by the window. */
  windowUsed(): boolean;
};

/** Where the poll stands: what the next page is fetched from, and what the poll has stored so far. */
type PollPosition = {
  cursor: string | null;
  pageToken: string | null;
  fullListing: boolean;
  pollStartedAt: Date;
  /** The poll started without a cursor (or over after the platform forgot it). */
  fullSync: boolean;
  totals: PollTotals;
};

/** A fetched page, checked, and what it means for the poll. */
type FetchedPage = {
  prepared: PreparedPage;
  /** The page token of the page after it; null on the poll's last page. */
  next: string | null;
  /** The cursor to save with the last page. */
  cursor: string | null;
};

/** Longest cursor data.ingested carries (a longer one is saved, but not sent). */
const MAX_EVENT_CURSOR = 2_048;

/**
 * One poll of one claimed resource: pages until the last one (or the page budget). Each page's
 * records, communication events and resume point are written by one statement (shared with other
 * polls' pages, see PageWriter); the last page carries the final cursor and `data.ingested` into
 * the outbox in that same statement. Every error of fetching and writing pages is turned into an
 * outcome (poll-failure.ts): one broken connection never stops the batch.
 */
export async function runPoll(
  deps: RunnerDeps,
  claim: ClaimedSyncState,
  options: { signal: AbortSignal; jobRunId?: string },
): Promise<PollResult> {
  const poll = startAttempt(deps, claim, options);
  const target = targetOf(poll);
  if (!target) {
    await releaseClaim(deps.pool, poll.key, poll.claimToken, deps.settings.defaultIntervalMs);
    return { outcome: "skipped", reason: "unknown", stored: poll.stored };
  }
  const scopesMissing = await pauseIfScopesMissing(poll, target.resource);
  if (scopesMissing) return scopesMissing;
  const token = await usableAccessToken(poll);
  if ("outcome" in token) return token;
  const session = openSession(poll, target, token);
  try {
    return await pollPages(poll, target, session);
  } catch (err) {
    return await outcomeOfFailure(poll, err, { runtime: target.runtime, ...session });
  }
}

function startAttempt(
  deps: RunnerDeps,
  claim: ClaimedSyncState,
  options: { signal: AbortSignal; jobRunId?: string },
): PollAttempt {
  const { connectionId, platform, resource } = claim;
  let logger: Logger | undefined;
  return {
    deps,
    claim,
    key: { connectionId, platform, resource },
    claimToken: claim.claimedBy,
    signal: options.signal,
    jobRunId: options.jobRunId,
    log: () => {
      logger ??= deps.logger.child({ connectionId, platform, resource });
      return logger;
    },
    stored: {},
    intervalMs: intervalFor(deps.settings.intervals, deps.settings.defaultIntervalMs, platform, resource),
  };
}

function targetOf(poll: PollAttempt): PollTarget | null {
  const runtime = poll.deps.platforms.get(poll.claim.platform);
  const resource = runtime?.connector.resources.find((r) => r.name === poll.claim.resource);
  return runtime && resource ? { runtime, resource } : null;
}

/** A resource whose scopes the connection no longer grants is paused until they are granted again. */
async function pauseIfScopesMissing(
  poll: PollAttempt,
  resource: ResourceDefinition,
): Promise<PollResult | null> {
  const required = resource.requiredScopes ?? [];
  if (grantsAnyOf(poll.claim.scopes, required)) return null;
  const message = `the connection no longer has any of the scopes ${required.join(", ")}`;
  const claimHeld = await pauseForScopes(poll.deps.pool, poll.key, poll.claimToken, message);
  if (!claimHeld) return { outcome: "skipped", reason: "claim_lost", stored: poll.stored };
  poll.log().info({ requiredScopes: required }, "resource paused: the connection no longer grants it");
  return { outcome: "skipped", reason: "scope_missing", stored: poll.stored };
}

/** The access token: readable, and valid for long enough (checked again before every request). */
async function usableAccessToken(
  poll: PollAttempt,
): Promise<{ accessToken: string; expiresAt: Date | null } | PollResult> {
  const { claim, deps } = poll;
  if (claim.accessTokenEncrypted === null) {
    return recordFailedPoll(poll, "token", "the connection has no access token", poll.intervalMs);
  }
  let accessToken: string;
  try {
    accessToken = deps.cipher.decrypt(claim.accessTokenEncrypted);
  } catch (err) {
    // Key ids only, never key material (TokenCipherError messages).
    poll.log().error({ err }, "cannot decrypt the connection's access token (TOKEN_ENCRYPTION_KEYS?)");
    return recordFailedPoll(
      poll,
      "token",
      `access token unreadable: ${(err as Error).message}`,
      poll.intervalMs,
    );
  }
  const expiresAt = claim.tokenExpiresNever ? null : claim.accessTokenExpiresAt;
  const validity = { expiresAt, expiresNever: claim.tokenExpiresNever };
  if (!tokenUsable(validity, Date.now(), deps.settings.minTokenValidityMs)) {
    await releaseClaim(deps.pool, poll.key, poll.claimToken);
    return { outcome: "skipped", reason: "token_expiring", stored: poll.stored };
  }
  return { accessToken, expiresAt };
}

function openSession(
  poll: PollAttempt,
  target: PollTarget,
  token: { accessToken: string; expiresAt: Date | null },
): PlatformSession {
  const { claim, deps } = poll;
  const bucketKey = bucketKeyOf(claim.platform);
  const http = createPlatformHttp({
    platform: claim.platform,
    baseUrl: target.runtime.baseUrl,
    accessToken: token.accessToken,
    tokenExpiresAt: token.expiresAt,
    limiter: deps.limiter,
    bucketKey,
    timeoutMs: deps.settings.requestTimeoutMs,
    signal: poll.signal,
    onResponse: (status, ms) => deps.metrics.observeRequest(claim.platform, status, ms),
  });
  const now = new Date();
  const windowStart = new Date(now.getTime() - deps.settings.firstSyncWindowMs);
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
    signal: poll.signal,
  };
  const selfAddresses = selfAddressesOf(claim.userEmail, claim.providerAccountId);
  return { http, ctx, bucketKey, selfAddresses, now, windowStart, windowUsed: () => windowUsed };
}

/**
 * Fetches and writes pages from where the claimed row stands until the last page, or until the
 * page budget is spent: then the claim is released and the poll resumes from its page token when
 * it is claimed again, so other resources get their turn.
 */
async function pollPages(
  poll: PollAttempt,
  target: PollTarget,
  session: PlatformSession,
): Promise<PollResult> {
  const { claim, deps } = poll;
  let position: PollPosition = {
    cursor: claim.cursor,
    pageToken: claim.pageToken,
    fullListing: claim.fullListing,
    pollStartedAt: claim.pollStartedAt,
    fullSync: claim.cursor === null,
    totals: totalsFrom(claim.pollCounts),
  };
  let cursorReset = false;
  let pages = 0;
  for (;;) {
    let page: Page;
    try {
      page = await target.resource.fetchPage(session.ctx, {
        cursor: position.cursor,
        pageToken: position.pageToken,
      });
    } catch (err) {
      // The platform forgot our cursor: start over with a full listing, under the same claim (once).
      if (!(err instanceof CursorExpiredError) || cursorReset) throw err;
      cursorReset = true;
      position = await restartAsFullSync(poll, err);
      continue;
    }
    pages += 1;
    const fetched = checkPage(page, position);
    const written = await writePage(poll, target, session, position, fetched);
    position.totals = written.totals;
    countWritten(poll, written, fetched.prepared);
    if (fetched.next === null) return { outcome: "polled", pages, stored: poll.stored };
    position.pageToken = fetched.next;
    if (pages >= deps.settings.maxPagesPerPoll) {
      await releaseClaim(deps.pool, poll.key, poll.claimToken);
      return { outcome: "skipped", reason: "yielded", stored: poll.stored };
    }
  }
}

function totalsFrom(counts: Record<string, number> | null | undefined): PollTotals {
  const totals = zeroTotals();
  for (const key of Object.keys(totals) as (keyof PollTotals)[]) {
    const value = counts?.[key];
    if (typeof value === "number") totals[key] = value;
  }
  return totals;
}

async function restartAsFullSync(poll: PollAttempt, err: CursorExpiredError): Promise<PollPosition> {
  poll.log().info({ reason: err.message }, "cursor rejected; starting a full sync");
  const pollStartedAt = await resetCursor(poll.deps.pool, poll.key, poll.claimToken);
  if (!pollStartedAt) throw new ClaimLostError();
  return {
    cursor: null,
    pageToken: null,
    fullListing: false,
    pollStartedAt,
    fullSync: true,
    totals: totalsFrom(undefined),
  };
}

/**
 * Checks a page (see preparePage) and works out what follows it. Whether the poll is a full
 * listing is decided by its first page and kept by any later one that says so.
 */
function checkPage(page: Page, position: PollPosition): FetchedPage {
  const prepared = preparePage(page);
  position.fullListing =
    position.pageToken === null
      ? page.fullListing === true
      : position.fullListing || page.fullListing === true;
  const next = page.notModified ? null : (page.nextPageToken ?? null);
  if (next !== null && next === position.pageToken) {
    throw malformed("page", "the platform returned the same page token again");
  }
  const cursor = next === null && page.nextCursor !== undefined ? page.nextCursor : position.cursor;
  return { prepared, next, cursor };
}

/** Writes a page with the poll's resume point (or, on its last page, the cursor and data.ingested). */
async function writePage(
  poll: PollAttempt,
  target: PollTarget,
  session: PlatformSession,
  position: PollPosition,
  fetched: FetchedPage,
): Promise<PageResult> {
  const { claim, deps } = poll;
  const items: CommunicationItem[] = [];
  for (const [externalId, found] of fetched.prepared.communications) {
    items.push({
      externalId,
      communication: found.communication,
      occurredAt: found.occurredAt ?? session.now,
    });
  }
  const write: PageWrite = {
    ref: poll.key,
    claimToken: poll.claimToken,
    userId: claim.userId,
    records: fetched.prepared.records,
    communications: communicationCandidates(items, session.selfAddresses),
    before: position.totals,
    skipped: fetched.prepared.skipped.length,
    fullListing: position.fullListing,
    pollStartedAt: position.pollStartedAt,
    next: fetched.next === null ? null : { pageToken: fetched.next, leaseMs: deps.settings.leaseMs },
    done:
      fetched.next === null
        ? {
            cursor: fetched.cursor,
            nextPollInMs: poll.intervalMs,
            event: ingestedEvent(poll, target, session, fetched.cursor, position.fullSync),
          }
        : null,
  };
  const written = await deps.pageWriter.write(write);
  if (!written.claimHeld) throw new ClaimLostError();
  return written;
}

/** The poll's data.ingested, with zero counts: the statement that stores the last page fills them in. */
function ingestedEvent(
  poll: PollAttempt,
  target: PollTarget,
  session: PlatformSession,
  cursor: string | null,
  fullSync: boolean,
) {
  const { claim } = poll;
  return outboxRow(
    createEvent(
      "data.ingested",
      {
        connectionId: claim.connectionId,
        userId: claim.userId,
        provider: target.runtime.connector.provider,
        resource: `${claim.platform}.${claim.resource}`,
        counts: { added: 0, updated: 0, unchanged: 0, deleted: 0 },
        cursor: cursor !== null && cursor.length <= MAX_EVENT_CURSOR ? cursor : null,
        ...(session.windowUsed()
          ? { window: { from: session.windowStart.toISOString(), to: session.now.toISOString() } }
          : {}),
        communicationEventsCreated: 0,
        fullSync,
        ...(poll.jobRunId ? { jobRunId: poll.jobRunId } : {}),
      },
      { source: poll.deps.source },
    ),
  );
}

function countWritten(poll: PollAttempt, written: PageResult, prepared: PreparedPage): void {
  const { stored } = poll;
  stored.records_added = (stored.records_added ?? 0) + written.page.added;
  stored.records_updated = (stored.records_updated ?? 0) + written.page.updated;
  stored.records_unchanged = (stored.records_unchanged ?? 0) + written.page.unchanged;
  stored.records_deleted = (stored.records_deleted ?? 0) + written.page.deleted;
  stored.communication_events = (stored.communication_events ?? 0) + written.page.communicationEvents;
  if (prepared.skipped.length > 0) {
    stored.items_skipped = (stored.items_skipped ?? 0) + prepared.skipped.length;
    reportSkipped(poll.deps, poll.claim, prepared.skipped, poll.log());
  }
}
