import type { ConnectionStatus, HealthStatus } from "@syncwell/contracts";
import {
  assertInstant,
  countOf,
  finiteOrNull,
  type HealthScore,
  linearDecline,
  type Rated,
  round,
  statusFor,
  type Weights,
  weighComponents,
  weightedScore,
} from "./score.ts";

/**
 * Connection health: can Syncwell keep reading this account? Its token, its failed refreshes, how
 * long since its data was last synced, and whether the provider is holding it back.
 */

export const connectionComponents = ["tokenState", "failureStreak", "syncFreshness", "rateLimit"] as const;
export type ConnectionComponent = (typeof connectionComponents)[number];
export type ConnectionHealthStatus = HealthStatus<"connection">;

export const defaultConnectionWeights: Weights<ConnectionComponent> = {
  tokenState: 0.3,
  failureStreak: 0.3,
  syncFreshness: 0.25,
  rateLimit: 0.15,
};

/** An expired access token still waiting for its refresh: usable again soon, but not now. */
export const EXPIRED_TOKEN_SCORE = 0.25;
/** Syncs count as fresh up to this many expected intervals (a due poll plus its run time). */
export const SYNC_FRESH_INTERVALS = 2;
/** …and as worthless from this many on, falling linearly in between. */
export const SYNC_STALE_INTERVALS = 8;
/** A provider's request to wait (Retry-After) halves the rate-limit component until then. */
export const WAIT_REQUESTED_SCORE = 0.5;

/** Statuses in which only the user reconnecting helps: the score is 0 and the status critical. */
const BLOCKED: ReadonlySet<ConnectionStatus> = new Set(["needs_reauth", "disconnected", "revoked"]);

export type ConnectionHealthSettings = {
  weights: Weights<ConnectionComponent>;
  /** Healthy at `healthyMin` and above, warning at `warningMin` and above, critical below. */
  healthyMin: number;
  warningMin: number;
  /** Non-transient failed refreshes in a row at which the failure streak scores 0 (token service: needs_reauth). */
  failureLimit: number;
  /** Transient failed refreshes in a row at which the failure streak scores 0 (token service: rate_limited). */
  transientFailureLimit: number;
  /** Expected time between syncs when the input does not say. */
  defaultSyncIntervalMs: number;
};

/** A connection as the token service and the poller left it. Instants are epoch milliseconds. */
export type ConnectionHealthInput = {
  now: number;
  status: ConnectionStatus;
  /** Null when there is no access token (or it never expires: see tokenExpiresNever). */
  accessTokenExpiresAt: number | null;
  tokenExpiresNever: boolean;
  /** Non-transient failed refreshes since the last success (`connections.consecutive_failures`). */
  failures: number;
  /** Transient failed refreshes since the last success (`connections.consecutive_transient_failures`). */
  transientFailures: number;
  /** Last successful sync of any of its resources; null when it never synced. */
  lastSyncedAt: number | null;
  /** When the connection was made: a connection that never synced is judged from then. */
  connectedAt: number | null;
  /** How often its data is expected to sync (the poller's interval); null: the settings' default. */
  expectedSyncIntervalMs?: number | null;
  /** A provider asked to wait until then (429 Retry-After); null when not. */
  rateLimitedUntil?: number | null;
};

export type ConnectionHealth = HealthScore<ConnectionHealthStatus, ConnectionComponent>;

/**
 * The weighted components against the thresholds; a connection only the user can mend (needs_reauth,
 * disconnected, revoked) scores 0 and is critical whatever its other components say.
 */
export function connectionHealth(
  input: ConnectionHealthInput,
  settings: ConnectionHealthSettings,
): ConnectionHealth {
  const { now } = input;
  assertInstant(now);
  const rated = [
    tokenState(input),
    failureStreak(input, settings),
    syncFreshness(input, settings),
    rateLimit(input),
  ];
  const components = weighComponents(rated, settings.weights);
  const blocked = BLOCKED.has(input.status);
  const score = blocked ? 0 : weightedScore(components);
  const status = blocked
    ? "critical"
    : statusFor<ConnectionHealthStatus>(score, {
        levels: [
          { status: "healthy", min: settings.healthyMin },
          { status: "warning", min: settings.warningMin },
        ],
        below: "critical",
      });
  const since = finiteOrNull(input.lastSyncedAt) ?? finiteOrNull(input.connectedAt) ?? now;
  return { score, status, components, window: { from: Math.min(since, now), to: now } };
}

function tokenState(input: ConnectionHealthInput): Rated<ConnectionComponent> {
  const name = "tokenState";
  if (BLOCKED.has(input.status)) {
    return { name, value: null, score: 0, detail: `status ${input.status}: the user must reconnect` };
  }
  if (input.tokenExpiresNever)
    return { name, value: null, score: 1, detail: "the access token does not expire" };
  const expiresAt = finiteOrNull(input.accessTokenExpiresAt);
  if (expiresAt === null) return { name, value: null, score: 0, detail: "no access token" };
  const minutesLeft = (expiresAt - input.now) / 60_000;
  if (minutesLeft > 0) {
    return {
      name,
      value: minutesLeft,
      score: 1,
      detail: `access token valid for ${Math.floor(minutesLeft)} more min`,
    };
  }
  return {
    name,
    value: minutesLeft,
    score: EXPIRED_TOKEN_SCORE,
    detail: `access token expired ${Math.ceil(-minutesLeft)} min ago, waiting for a refresh`,
  };
}

function failureStreak(
  input: ConnectionHealthInput,
  settings: ConnectionHealthSettings,
): Rated<ConnectionComponent> {
  const failures = countOf(input.failures);
  const transient = countOf(input.transientFailures);
  const total = failures + transient;
  if (total === 0)
    return { name: "failureStreak", value: 0, score: 1, detail: "no failed refresh since the last success" };
  const used = failures / settings.failureLimit + transient / settings.transientFailureLimit;
  return {
    name: "failureStreak",
    value: total,
    score: linearDecline(used, 0, 1),
    detail:
      `${total} failed refresh${total === 1 ? "" : "es"} in a row (${failures} non-transient of ${settings.failureLimit}` +
      ` allowed, ${transient} transient of ${settings.transientFailureLimit})`,
  };
}

function syncFreshness(
  input: ConnectionHealthInput,
  settings: ConnectionHealthSettings,
): Rated<ConnectionComponent> {
  const name = "syncFreshness";
  const intervalMs = positiveOr(input.expectedSyncIntervalMs, settings.defaultSyncIntervalMs);
  const lastSynced = finiteOrNull(input.lastSyncedAt);
  const since = lastSynced ?? finiteOrNull(input.connectedAt);
  if (since === null) return { name, value: null, score: 0, detail: "never synced" };
  // A clock a little ahead of ours must not make a sync look older than fresh.
  const intervals = Math.max(0, input.now - since) / intervalMs;
  const minutes = Math.round(Math.max(0, input.now - since) / 60_000);
  const what =
    lastSynced === null ? `not synced yet, connected ${minutes} min ago` : `last synced ${minutes} min ago`;
  return {
    name,
    value: intervals,
    score: linearDecline(intervals, SYNC_FRESH_INTERVALS, SYNC_STALE_INTERVALS),
    detail: `${what} (${round(intervals, 1)} expected intervals; 0 at ${SYNC_STALE_INTERVALS})`,
  };
}

function rateLimit(input: ConnectionHealthInput): Rated<ConnectionComponent> {
  const name = "rateLimit";
  if (input.status === "rate_limited") {
    return { name, value: null, score: 0, detail: "rate limited: transient failures kept coming" };
  }
  const until = finiteOrNull(input.rateLimitedUntil);
  if (until !== null && until > input.now) {
    const minutes = Math.ceil((until - input.now) / 60_000);
    return {
      name,
      value: minutes,
      score: WAIT_REQUESTED_SCORE,
      detail: `the provider asked to wait ${minutes} more min`,
    };
  }
  return { name, value: null, score: 1, detail: "not rate limited" };
}

function positiveOr(value: number | null | undefined, fallback: number): number {
  const n = finiteOrNull(value);
  return n !== null && n > 0 ? n : fallback;
}
