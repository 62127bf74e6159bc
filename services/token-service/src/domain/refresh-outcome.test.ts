import { describe, expect, it } from "vitest";
import {
  type ConnectionRefreshState,
  classifyFailure,
  decideFailure,
  decideSuccess,
  defaultBackoff,
  type FailureDecision,
  normaliseErrorCode,
  type RefreshFailure,
  retryDelayMs,
} from "./refresh-outcome.ts";

const now = new Date("2026-11-21T10:05:00.000Z");
const healthy: ConnectionRefreshState = {
  status: "connected",
  consecutiveFailures: 0,
  consecutiveTransientFailures: 0,
};
const half = () => 0.5;

function fail(state: ConnectionRefreshState, failure: RefreshFailure): FailureDecision {
  const decision = decideFailure(state, failure, now, half);
  if (decision.kind !== "failed") throw new Error(`expected a failure decision, got ${decision.kind}`);
  return decision;
}

function next(d: FailureDecision): ConnectionRefreshState {
  return {
    status: d.status,
    consecutiveFailures: d.consecutiveFailures,
    consecutiveTransientFailures: d.consecutiveTransientFailures,
  };
}

describe("classifyFailure", () => {
  it.each<[RefreshFailure, string, string, string]>([
    [
      { kind: "oauth_error", status: 400, error: "invalid_grant" },
      "grant_revoked",
      "permanent",
      "invalid_grant",
    ],
    [
      { kind: "oauth_error", status: 200, error: "bad_refresh_token" },
      "grant_revoked",
      "permanent",
      "bad_refresh_token",
    ],
    [
      { kind: "oauth_error", status: 200, error: "invalid_refresh_token" },
      "grant_revoked",
      "permanent",
      "invalid_refresh_token",
    ],
    [{ kind: "oauth_error", status: 401, error: "invalid_client" }, "operator", "operator", "invalid_client"],
    [
      { kind: "oauth_error", status: 400, error: "unauthorized_client" },
      "operator",
      "operator",
      "unauthorized_client",
    ],
    [
      { kind: "oauth_error", status: 200, error: "incorrect_client_credentials" },
      "operator",
      "operator",
      "incorrect_client_credentials",
    ],
    [
      { kind: "oauth_error", status: 429, error: "rate_limit_exceeded" },
      "transient",
      "transient",
      "rate_limit_exceeded",
    ],
    [
      { kind: "oauth_error", status: 503, error: "temporarily_unavailable" },
      "transient",
      "transient",
      "temporarily_unavailable",
    ],
    [{ kind: "oauth_error", status: 502, error: "whatever" }, "transient", "transient", "whatever"],
    [{ kind: "oauth_error", status: 400, error: "invalid_scope" }, "rejected", "permanent", "invalid_scope"],
    [
      { kind: "oauth_error", status: 200, error: "bad_verification_code" },
      "rejected",
      "permanent",
      "bad_verification_code",
    ],
    [{ kind: "http", status: 429 }, "transient", "transient", "http_429"],
    [{ kind: "http", status: 500 }, "transient", "transient", "http_500"],
    [{ kind: "http", status: 503 }, "transient", "transient", "http_503"],
    [{ kind: "http", status: 401 }, "operator", "operator", "http_401"],
    [{ kind: "http", status: 404 }, "operator", "operator", "http_404"],
    [{ kind: "http", status: 302 }, "operator", "operator", "http_302"],
    [{ kind: "http", status: 400 }, "rejected", "permanent", "http_400"],
    [{ kind: "timeout" }, "transient", "transient", "timeout"],
    [{ kind: "network" }, "transient", "transient", "network"],
    [{ kind: "malformed", status: 200 }, "transient", "transient", "malformed_response"],
  ])("%j → %s", (failure, failureClass, classification, errorCode) => {
    expect(classifyFailure(failure)).toEqual({ failureClass, classification, errorCode });
  });

  it("turns any provider code into an event errorCode", () => {
    expect(normaliseErrorCode("Invalid-Grant")).toBe("invalid_grant");
    expect(normaliseErrorCode("  ")).toBe("oauth_error");
    expect(normaliseErrorCode("x".repeat(100))).toHaveLength(64);
  });
});

describe("the escalation ladder", () => {
  const rejected: RefreshFailure = { kind: "oauth_error", status: 400, error: "invalid_request" };
  const transient: RefreshFailure = { kind: "http", status: 503 };

  it("warns at the 2nd failure and asks for reauthorization at the 3rd", () => {
    const first = fail(healthy, rejected);
    expect(first).toMatchObject({ status: "connected", consecutiveFailures: 1, failuresInARow: 1 });
    expect(first.retryAt).not.toBeNull();
    const second = fail(next(first), rejected);
    expect(second).toMatchObject({ status: "warning", previousStatus: "connected", consecutiveFailures: 2 });
    const third = fail(next(second), rejected);
    expect(third).toMatchObject({
      status: "needs_reauth",
      previousStatus: "warning",
      consecutiveFailures: 3,
      retryAt: null,
    });
  });

  it("asks for reauthorization at once when the grant is gone", () => {
    const d = fail(healthy, { kind: "oauth_error", status: 400, error: "invalid_grant" });
    expect(d).toMatchObject({
      status: "needs_reauth",
      classification: "permanent",
      errorCode: "invalid_grant",
      consecutiveFailures: 1,
      consecutiveTransientFailures: 0,
      retryAt: null,
    });
  });

  it("never disconnects on transient failures: warning from the 2nd, rate_limited at the 5th", () => {
    let state = healthy;
    const statuses: string[] = [];
    for (let i = 0; i < 7; i++) {
      const d = fail(state, transient);
      statuses.push(d.status);
      expect(d.retryAt).not.toBeNull();
      expect(d.consecutiveFailures).toBe(0);
      state = next(d);
    }
    expect(statuses).toEqual([
      "connected",
      "warning",
      "warning",
      "warning",
      "rate_limited",
      "rate_limited",
      "rate_limited",
    ]);
    expect(state.consecutiveTransientFailures).toBe(7);
  });

  it("counts transient failures toward the warning but not toward reauthorization", () => {
    const afterTwoTransient = next(fail(next(fail(healthy, transient)), transient));
    const d = fail(afterTwoTransient, rejected);
    expect(d).toMatchObject({
      status: "warning",
      consecutiveFailures: 1,
      consecutiveTransientFailures: 2,
      failuresInARow: 3,
    });
  });

  it("marks a success after failures as a recovery and resets everything", () => {
    expect(decideSuccess(healthy)).toEqual({
      kind: "refreshed",
      previousStatus: "connected",
      status: "connected",
      recovered: false,
    });
    expect(
      decideSuccess({ status: "rate_limited", consecutiveFailures: 0, consecutiveTransientFailures: 5 }),
    ).toMatchObject({ recovered: true, previousStatus: "rate_limited" });
    expect(
      decideSuccess({ status: "connected", consecutiveFailures: 0, consecutiveTransientFailures: 1 })
        .recovered,
    ).toBe(true);
  });

  it("leaves the connection alone on an operator error", () => {
    const d = decideFailure(
      { status: "warning", consecutiveFailures: 1, consecutiveTransientFailures: 1 },
      { kind: "oauth_error", status: 401, error: "invalid_client" },
      now,
    );
    expect(d).toEqual({
      kind: "operator",
      previousStatus: "warning",
      classification: "operator",
      errorCode: "invalid_client",
    });
  });
});

describe("retry times", () => {
  it("honours Retry-After, never earlier, with bounded jitter on top", () => {
    for (const r of [0, 0.5, 0.999]) {
      const delay = retryDelayMs(1, 30_000, () => r);
      expect(delay).toBeGreaterThanOrEqual(30_000);
      expect(delay).toBeLessThanOrEqual(33_000);
    }
    expect(retryDelayMs(1, 3_600_000, () => 1)).toBe(3_600_000 + 30_000);
    const d = fail(healthy, { kind: "http", status: 429, retryAfterMs: 120_000 });
    expect(d.retryAt?.getTime()).toBeGreaterThanOrEqual(now.getTime() + 120_000);
  });

  it("without Retry-After, backs off from 1 min up to 1 h (the shared jittered backoff)", () => {
    expect(retryDelayMs(1, undefined, () => 0)).toBe(30_000);
    expect(retryDelayMs(1, undefined, () => 1)).toBe(60_000);
    expect(retryDelayMs(2, undefined, () => 0)).toBe(60_000);
    expect(retryDelayMs(3, undefined, () => 1)).toBe(240_000);
    expect(retryDelayMs(50, undefined, () => 1)).toBe(defaultBackoff.maxDelayMs);
    const spread = new Set(Array.from({ length: 20 }, () => retryDelayMs(2, undefined, Math.random)));
    expect(spread.size).toBeGreaterThan(1);
  });
});
