import { enqueueEvents } from "@syncwell/bus";
import { createEvent } from "@syncwell/contracts";
import { withTransaction } from "@syncwell/db";
import { backoffDelayMs } from "@syncwell/runtime/backoff";
import { CursorExpiredError, PlatformError } from "../adapters/connectors/errors.ts";
import { PollAbortedError, TokenExpiringError } from "../adapters/platform-http.ts";
import {
  delayConnection,
  type ErrorKind,
  recordFailure,
  releaseClaim,
} from "../repositories/sync-state.repository.ts";
import type { PollAttempt, PollResult } from "./poll-runner.ts";
import type { PlatformRuntime } from "./settings.ts";

/** The claim was taken over (its lease lapsed): this poll must not write anything more. */
export class ClaimLostError extends Error {
  override readonly name = "ClaimLostError";
}

/** What a failure handler needs of the poll's talk to the platform. */
type FailedSession = {
  runtime: PlatformRuntime;
  bucketKey: string;
  /** Names the request that failed (`lastRequest`), for the refresh request of a 401. */
  http: { readonly lastRequest: string | undefined };
};

/** Waits after a 429 without a usable `Retry-After`. */
const RATE_LIMIT_DEFAULT_WAIT_MS = 60_000;

/**
 * Records a failed poll and when the resource is due again, releasing the claim. Skipped instead
 * when the claim was lost meanwhile (its new holder records its own outcome).
 */
export async function recordFailedPoll(
  poll: PollAttempt,
  kind: ErrorKind,
  message: string,
  retryInMs: number,
): Promise<PollResult> {
  const claimHeld = await recordFailure(poll.deps.pool, poll.key, poll.claimToken, {
    kind,
    message,
    retryInMs,
    countsAsFailure: true,
  });
  if (!claimHeld) return { outcome: "skipped", reason: "claim_lost", stored: poll.stored };
  return { outcome: "failed", kind, message, stored: poll.stored };
}

/**
 * The outcome of a poll that failed while fetching or writing pages, and when its resource is
 * polled again: the claim handed back at once where the poll could not go on (stopping, token
 * about to expire), a wait the platform asked for, a backoff growing with the failure streak, or
 * the usual interval for what retrying sooner would not fix. An outcome that cannot be recorded
 * (the database unreachable) leaves the claim's lease to lapse: the resource is claimed again later.
 */
export async function outcomeOfFailure(
  poll: PollAttempt,
  err: unknown,
  session: FailedSession,
): Promise<PollResult> {
  try {
    if (err instanceof ClaimLostError) {
      poll.log().warn("claim lapsed and was taken over; this poll stopped without writing");
      return { outcome: "skipped", reason: "claim_lost", stored: poll.stored };
    }
    if (err instanceof PollAbortedError || poll.signal.aborted) {
      await releaseClaim(poll.deps.pool, poll.key, poll.claimToken);
      return { outcome: "skipped", reason: "aborted", stored: poll.stored };
    }
    if (err instanceof TokenExpiringError) {
      await releaseClaim(poll.deps.pool, poll.key, poll.claimToken);
      return { outcome: "skipped", reason: "token_expiring", stored: poll.stored };
    }
    if (err instanceof CursorExpiredError) {
      const message = `cursor rejected again after a reset: ${err.message}`;
      return await recordFailedPoll(poll, "cursor_expired", message, backoffOf(poll));
    }
    if (err instanceof PlatformError) return await platformFailure(poll, err, session);
    // A connector bug or a database error: recorded like a transient failure, with backoff.
    poll.log().error({ err }, "poll failed unexpectedly");
    const message = `unexpected error: ${(err as Error).message ?? String(err)}`;
    return await recordFailedPoll(poll, "transient", message, backoffOf(poll));
  } catch (writeErr) {
    poll.log().error({ err: writeErr, cause: err }, "could not record the outcome of a poll");
    return {
      outcome: "failed",
      kind: "transient",
      message: (writeErr as Error).message,
      stored: poll.stored,
    };
  }
}

/** The next attempt's delay after one more failure in a row. */
function backoffOf(poll: PollAttempt): number {
  const { settings } = poll.deps;
  return backoffDelayMs(
    { initialDelayMs: settings.backoffBaseMs, maxDelayMs: settings.backoffMaxMs },
    poll.claim.consecutiveFailures + 1,
  );
}

async function platformFailure(
  poll: PollAttempt,
  err: PlatformError,
  session: FailedSession,
): Promise<PollResult> {
  const { settings } = poll.deps;
  switch (err.kind) {
    case "unauthorized":
      return await unauthorized(poll, err, session);
    case "rate_limited":
      return await rateLimited(poll, err, session);
    case "transient":
      poll.log().warn({ err: err.message, status: err.status }, "transient platform failure; backing off");
      return await recordFailedPoll(poll, "transient", err.message, backoffOf(poll));
    case "malformed": {
      poll.log().warn({ err: err.message }, "malformed platform payload");
      // No sooner than the backoff, nor than the interval (up to the backoff's cap).
      const retryInMs = Math.max(backoffOf(poll), Math.min(poll.intervalMs, settings.backoffMaxMs));
      return await recordFailedPoll(poll, "malformed", err.message, retryInMs);
    }
    case "permanent":
      poll.log().warn({ err: err.message, status: err.status }, "platform refused the request");
      return await recordFailedPoll(poll, "permanent", err.message, poll.intervalMs);
  }
}

/**
 * A rate limit is no failure of the connection: its streak stays. Where the platform limits each
 * connection's token, only this connection's resources wait; otherwise the whole platform's
 * shared bucket is blocked.
 */
async function rateLimited(
  poll: PollAttempt,
  err: PlatformError,
  session: FailedSession,
): Promise<PollResult> {
  const { claim, deps } = poll;
  const waitMs = err.retryAfterMs ?? RATE_LIMIT_DEFAULT_WAIT_MS;
  let retryInMs = waitMs;
  // An answer of the platform (a status), not the platform's bucket already blocked.
  if (session.runtime.connector.rateLimitedPer === "connection" && err.status !== undefined) {
    const delayed = await delayConnection(deps.pool, claim.connectionId, { waitMs }, claim.platform);
    poll
      .log()
      .warn(
        { retryInMs: waitMs, status: err.status, delayed },
        "rate limit of this connection's token: its resources wait, the platform goes on",
      );
  } else {
    const until = await deps.limiter.block(session.bucketKey, waitMs);
    poll.log().warn({ until, status: err.status }, "platform rate limit: the whole platform waits");
    retryInMs = Math.max(waitMs, until.getTime() - Date.now());
  }
  const claimHeld = await recordFailure(deps.pool, poll.key, poll.claimToken, {
    kind: "rate_limited",
    message: err.message,
    retryInMs,
    countsAsFailure: false,
  });
  return claimHeld
    ? { outcome: "skipped", reason: "rate_limited", stored: { ...poll.stored, rate_limited: 1 } }
    : { outcome: "skipped", reason: "claim_lost", stored: poll.stored };
}

/**
 * A 401: the resource waits for a refreshed token, and the token service is asked for one (unless
 * this replica asked moments ago), in the same transaction as the wait is recorded.
 */
async function unauthorized(
  poll: PollAttempt,
  err: PlatformError,
  session: FailedSession,
): Promise<PollResult> {
  const { claim, deps } = poll;
  const refreshRequested = deps.shouldRequestRefresh(claim.connectionId);
  const claimHeld = await withTransaction(deps.pool, async (client) => {
    const recorded = await recordFailure(client, poll.key, poll.claimToken, {
      kind: "unauthorized",
      message: `${err.message}; token refresh requested`,
      retryInMs: deps.settings.unauthorizedDelayMs,
      countsAsFailure: false,
    });
    if (recorded && refreshRequested) {
      await enqueueEvents(
        client,
        createEvent(
          "token.refresh-requested",
          {
            connectionId: claim.connectionId,
            userId: claim.userId,
            provider: claim.provider,
            reason: `${session.http.lastRequest ?? claim.platform} returned 401 Unauthorized`.slice(0, 500),
          },
          { source: deps.source },
        ),
      );
    }
    return recorded;
  });
  poll.log().info({ refreshRequested }, "platform answered 401; waiting for a refreshed token");
  if (!claimHeld) return { outcome: "skipped", reason: "claim_lost", stored: poll.stored };
  return {
    outcome: "skipped",
    reason: "unauthorized",
    stored: { ...poll.stored, refresh_requested: refreshRequested ? 1 : 0 },
  };
}
