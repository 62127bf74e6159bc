import type { ConnectionStatus, FailureClassification } from "@syncwell/contracts";
import { type Backoff, backoffDelayMs } from "@syncwell/runtime/backoff";

/**
 * What a refresh attempt means for a connection. Pure: no clock, no randomness, no I/O of its own
 * (both are passed in), so every rung of the escalation ladder is unit-tested.
 *
 * Counters, both reset by a success only:
 * - `consecutive_failures`: non-transient failures since the last success (the user's grant was
 *   refused or the request was rejected). These lead to `needs_reauth`.
 * - `consecutive_transient_failures`: transient failures since the last success (429, 5xx,
 *   timeout, network, an unreadable answer). These never disconnect a user.
 * Their sum is "failed refreshes in a row" (the events' `consecutiveFailures`).
 *
 * Status after an attempt:
 * - success → `connected` (`recovered` when it follows failures);
 * - the grant is gone (`invalid_grant`, revoked, expired refresh token) → `needs_reauth` at once;
 * - another non-transient failure → `needs_reauth` at the 3rd, else `warning` from the 2nd failure in a row;
 * - transient → `rate_limited` at the 5th, else `warning` from the 2nd failure in a row;
 * - operator misconfiguration (`invalid_client`, …) → the connection is not touched at all.
 */

/** What the OAuth client reports when a refresh did not produce a token (never contains one). */
export type RefreshFailure = {
  kind: "oauth_error" | "http" | "timeout" | "network" | "malformed";
  /** HTTP status, when there was a response. */
  status?: number;
  /** OAuth `error` code (RFC 6749 §5.2), as the provider sent it. */
  error?: string;
  /** The provider's `error_description`, tokens masked. */
  errorDescription?: string;
  /** From `Retry-After`, when the response carried one. */
  retryAfterMs?: number;
  /**
   * The request reached the network but no answer came (timed out waiting, connection reset): the
   * provider may have rotated the refresh token, and the new one is lost with the answer.
   */
  answerLost?: boolean;
  /**
   * An earlier attempt on this connection never had its answer recorded (its answer was lost, or
   * the process that sent it died). A grant refused now was most likely revoked by the provider's
   * reuse detection because that answer's rotated refresh token never reached us: `rotation_lost`,
   * not the user's doing.
   */
  afterLostAnswer?: boolean;
};

/**
 * - grant_revoked: the user's grant is gone; only the user reconnecting helps.
 * - rejected: the provider refused this request for another reason (invalid_scope, an unknown 4xx).
 * - transient: try again later.
 * - operator: Syncwell's own client configuration is wrong; no user is at fault.
 */
export type FailureClass = "grant_revoked" | "rejected" | "transient" | "operator";

export type ClassifiedFailure = {
  failureClass: FailureClass;
  /** As published in `token.failed`. */
  classification: FailureClassification;
  /** snake_case, e.g. invalid_grant, http_503, timeout. */
  errorCode: string;
};

/** OAuth error codes (RFC 6749 and the providers' own) meaning the user's grant is gone. */
const GRANT_GONE = new Set([
  "invalid_grant",
  "bad_refresh_token", // GitHub
  "invalid_refresh_token", // Slack
  "token_revoked", // Slack
  "token_expired",
  "expired_token",
  "refresh_token_expired",
  "app_uninstalled", // Slack
  "account_inactive", // Slack
]);

/** Codes meaning the client (Syncwell's app registration) is misconfigured. */
const OPERATOR = new Set([
  "invalid_client",
  "unauthorized_client",
  "unsupported_grant_type",
  "incorrect_client_credentials", // GitHub
  "invalid_client_id", // Slack
  "bad_client_secret", // Slack
  "bad_redirect_uri",
]);

/** Codes meaning "later": server trouble or rate limiting. */
const TRANSIENT = new Set([
  "temporarily_unavailable",
  "server_error",
  "rate_limit_exceeded",
  "rate_limited",
  "ratelimited", // Slack
  "slow_down",
]);

/** A provider's error code as an event `errorCode`: lowercase letters, digits and underscores. */
export function normaliseErrorCode(code: string): string {
  const cleaned = code
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, "_")
    .replace(/^_+|_+$/g, "")
    .slice(0, 64);
  return cleaned === "" ? "oauth_error" : cleaned;
}

function isTransientStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

function httpClass(status: number): FailureClass {
  if (isTransientStatus(status)) return "transient";
  // 401 without an OAuth body: client authentication failed; 403/404/405 or a redirect: the token
  // URL or the app's access is wrong. None of these is the user's doing.
  if (
    status === 401 ||
    status === 403 ||
    status === 404 ||
    status === 405 ||
    (status >= 300 && status < 400)
  ) {
    return "operator";
  }
  return status >= 400 ? "rejected" : "transient";
}

const CONTRACT_CLASSIFICATION: Record<FailureClass, FailureClassification> = {
  grant_revoked: "permanent",
  rejected: "permanent",
  transient: "transient",
  operator: "operator",
};

/** The error code of a grant refused after an earlier answer, and its rotated token, were lost. */
export const ROTATION_LOST = "rotation_lost";

export function classifyFailure(failure: RefreshFailure): ClassifiedFailure {
  let failureClass: FailureClass;
  let errorCode: string;
  switch (failure.kind) {
    case "oauth_error": {
      const code = normaliseErrorCode(failure.error ?? "");
      errorCode = code;
      if (GRANT_GONE.has(code)) {
        failureClass = "grant_revoked";
        if (failure.afterLostAnswer) errorCode = ROTATION_LOST;
      } else if (OPERATOR.has(code)) failureClass = "operator";
      else if (TRANSIENT.has(code) || (failure.status !== undefined && isTransientStatus(failure.status))) {
        failureClass = "transient";
      } else failureClass = "rejected";
      break;
    }
    case "http": {
      const status = failure.status ?? 0;
      errorCode = `http_${status}`;
      failureClass = httpClass(status);
      break;
    }
    case "timeout":
      errorCode = "timeout";
      failureClass = "transient";
      break;
    case "network":
      errorCode = "network";
      failureClass = "transient";
      break;
    case "malformed":
      // A truncated or unreadable body is a transport fault; retrying is the only sensible move.
      errorCode = "malformed_response";
      failureClass = "transient";
      break;
  }
  return { failureClass, classification: CONTRACT_CLASSIFICATION[failureClass], errorCode };
}

export type ConnectionRefreshState = {
  status: ConnectionStatus;
  consecutiveFailures: number;
  consecutiveTransientFailures: number;
};

export type BackoffPolicy = Backoff & {
  /** Extra random delay on top of a Retry-After, as a fraction of it, so retries spread out. */
  retryAfterJitter: number;
  /** Bound on that extra delay. */
  retryAfterJitterMaxMs: number;
};

export const defaultBackoff: BackoffPolicy = {
  initialDelayMs: 60_000,
  factor: 2,
  maxDelayMs: 60 * 60_000,
  retryAfterJitter: 0.1,
  retryAfterJitterMaxMs: 30_000,
};

/** Failures before `needs_reauth` when none of them says the grant is gone. */
export const REAUTH_AFTER_FAILURES = 3;
/** Failures in a row before `warning`. */
export const WARNING_AFTER_FAILURES = 2;
/** Transient failures before `rate_limited`. */
export const RATE_LIMITED_AFTER_TRANSIENT = 5;

/** Retry delay: a Retry-After is honoured (never retried sooner), with a little jitter on top. */
export function retryDelayMs(
  attempt: number,
  retryAfterMs: number | undefined,
  random: () => number,
  policy: BackoffPolicy = defaultBackoff,
): number {
  if (retryAfterMs !== undefined) {
    const jitter = Math.min(policy.retryAfterJitterMaxMs, retryAfterMs * policy.retryAfterJitter) * random();
    return Math.ceil(retryAfterMs + jitter);
  }
  return backoffDelayMs(policy, attempt, random);
}

export type SuccessDecision = {
  kind: "refreshed";
  previousStatus: ConnectionStatus;
  status: "connected";
  /** True when this success follows failures (the notifier resolves earlier warnings). */
  recovered: boolean;
};

export type FailureDecision = {
  kind: "failed";
  previousStatus: ConnectionStatus;
  status: ConnectionStatus;
  classification: FailureClassification;
  failureClass: Exclude<FailureClass, "operator">;
  errorCode: string;
  consecutiveFailures: number;
  consecutiveTransientFailures: number;
  /** Failed refreshes in a row, this one included (the event's `consecutiveFailures`). */
  failuresInARow: number;
  /** Null when only the user reconnecting can help. */
  retryAt: Date | null;
};

/** The connection is left exactly as it was; the operator is alerted and the provider held. */
export type OperatorDecision = {
  kind: "operator";
  previousStatus: ConnectionStatus;
  classification: "operator";
  errorCode: string;
};

export function decideSuccess(state: ConnectionRefreshState): SuccessDecision {
  return {
    kind: "refreshed",
    previousStatus: state.status,
    status: "connected",
    recovered:
      state.consecutiveFailures + state.consecutiveTransientFailures > 0 || state.status !== "connected",
  };
}

export function decideFailure(
  state: ConnectionRefreshState,
  failure: RefreshFailure,
  now: Date,
  random: () => number = Math.random,
  policy: BackoffPolicy = defaultBackoff,
): FailureDecision | OperatorDecision {
  const classified = classifyFailure(failure);
  const previousStatus = state.status;
  if (classified.failureClass === "operator") {
    return { kind: "operator", previousStatus, classification: "operator", errorCode: classified.errorCode };
  }
  const transient = classified.failureClass === "transient";
  const consecutiveFailures = state.consecutiveFailures + (transient ? 0 : 1);
  const consecutiveTransientFailures = state.consecutiveTransientFailures + (transient ? 1 : 0);
  const failuresInARow = consecutiveFailures + consecutiveTransientFailures;

  let status: ConnectionStatus;
  if (classified.failureClass === "grant_revoked" || consecutiveFailures >= REAUTH_AFTER_FAILURES) {
    status = "needs_reauth";
  } else if (transient && consecutiveTransientFailures >= RATE_LIMITED_AFTER_TRANSIENT) {
    status = "rate_limited";
  } else if (failuresInARow >= WARNING_AFTER_FAILURES) {
    status = "warning";
  } else {
    status = "connected";
  }

  const retryAt =
    status === "needs_reauth"
      ? null
      : new Date(
          now.getTime() +
            retryDelayMs(
              transient ? consecutiveTransientFailures : consecutiveFailures,
              failure.retryAfterMs,
              random,
              policy,
            ),
        );

  return {
    kind: "failed",
    previousStatus,
    status,
    classification: classified.classification,
    failureClass: classified.failureClass,
    errorCode: classified.errorCode,
    consecutiveFailures,
    consecutiveTransientFailures,
    failuresInARow,
    retryAt,
  };
}
