import { afterEach, describe, expect, it, vi } from "vitest";
import {
  type ConnectionHealthInput,
  type ConnectionHealthSettings,
  connectionComponents,
  connectionHealth,
  defaultConnectionWeights,
} from "./connection-health.ts";

const now = Date.parse("2026-11-21T10:00:00Z");
const MIN = 60_000;

const settings: ConnectionHealthSettings = {
  weights: defaultConnectionWeights,
  healthyMin: 85,
  warningMin: 50,
  failureLimit: 3,
  transientFailureLimit: 5,
  defaultSyncIntervalMs: 30 * MIN,
};

const fine: ConnectionHealthInput = {
  now,
  status: "connected",
  accessTokenExpiresAt: now + 45 * MIN,
  tokenExpiresNever: false,
  failures: 0,
  transientFailures: 0,
  lastSyncedAt: now - 10 * MIN,
  connectedAt: now - 30 * 24 * 60 * MIN,
};

function component(input: ConnectionHealthInput, name: string, s = settings) {
  return connectionHealth(input, s).components.find((c) => c.name === name);
}

describe("connection health with the default settings", () => {
  it.each<[string, Partial<ConnectionHealthInput>, number, string]>([
    ["all well", {}, 100, "healthy"],
    ["one non-transient failure", { failures: 1 }, 90, "healthy"],
    ["two transient failures", { transientFailures: 2 }, 88, "healthy"],
    ["a non-transient and a transient failure", { failures: 1, transientFailures: 1 }, 84, "warning"],
    [
      "two non-transient failures (token service: warning)",
      { status: "warning", failures: 2 },
      80,
      "warning",
    ],
    ["access token expired, refresh late", { accessTokenExpiresAt: now - 5 * MIN }, 78, "warning"],
    ["no access token", { accessTokenExpiresAt: null }, 70, "warning"],
    ["not synced for 10 intervals", { lastSyncedAt: now - 300 * MIN }, 75, "warning"],
    [
      "rate limited at the 5th transient failure",
      { status: "rate_limited", transientFailures: 5 },
      55,
      "warning",
    ],
    [
      "rate limited, token expired, stale",
      { status: "rate_limited", transientFailures: 5, accessTokenExpiresAt: now - MIN, lastSyncedAt: null },
      8,
      "critical",
    ],
    ["needs_reauth", { status: "needs_reauth", failures: 3 }, 0, "critical"],
    ["disconnected", { status: "disconnected" }, 0, "critical"],
    ["revoked", { status: "revoked" }, 0, "critical"],
    ["token that never expires", { accessTokenExpiresAt: null, tokenExpiresNever: true }, 100, "healthy"],
    [
      "never synced, connected 10 min ago",
      { lastSyncedAt: null, connectedAt: now - 10 * MIN },
      100,
      "healthy",
    ],
  ])("%s → %i, %s", (_case, change, score, status) => {
    const result = connectionHealth({ ...fine, ...change }, settings);
    expect({ score: result.score, status: result.status }).toEqual({ score, status });
  });

  it("explains every component, with weights summing to 1 as documented", () => {
    const result = connectionHealth({ ...fine, failures: 2, status: "warning" }, settings);
    expect(result.components.map((c) => c.name)).toEqual([...connectionComponents]);
    expect(result.components.map((c) => c.weight)).toEqual([0.3, 0.3, 0.25, 0.15]);
    expect(Object.values(defaultConnectionWeights).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(result.components.find((c) => c.name === "failureStreak")).toEqual({
      name: "failureStreak",
      value: 2,
      weight: 0.3,
      score: 0.333,
      detail: "2 failed refreshes in a row (2 non-transient of 3 allowed, 0 transient of 5)",
    });
    expect(result.window).toEqual({ from: now - 10 * MIN, to: now });
  });

  it("halves the rate-limit component while the provider asks to wait", () => {
    const waiting = { ...fine, rateLimitedUntil: now + 90_000 };
    expect(component(waiting, "rateLimit")).toMatchObject({ score: 0.5, value: 2 });
    expect(connectionHealth(waiting, settings).status).toBe("healthy");
    expect(component({ ...fine, rateLimitedUntil: now }, "rateLimit")?.score).toBe(1);
  });
});

describe("connection status boundaries", () => {
  // Only the failure streak counts, 100 failures empty it: n non-transient failures score 100 − n.
  const streakOnly: ConnectionHealthSettings = {
    ...settings,
    weights: { tokenState: 0, failureStreak: 1, syncFreshness: 0, rateLimit: 0 },
    failureLimit: 100,
  };
  it.each([
    [14, 86, "healthy"],
    [15, 85, "healthy"],
    [16, 84, "warning"],
    [49, 51, "warning"],
    [50, 50, "warning"],
    [51, 49, "critical"],
  ])("%i failures → %i, %s", (failures, score, status) => {
    const result = connectionHealth({ ...fine, failures }, streakOnly);
    expect({ score: result.score, status: result.status }).toEqual({ score, status });
  });

  it.each([
    [0, 1],
    [2, 1],
    [2.01, 0.998],
    [5, 0.5],
    [7.99, 0.002],
    [8, 0],
    [20, 0],
  ])("a sync %d intervals old scores %d for freshness", (intervals, score) => {
    const input = { ...fine, lastSyncedAt: now - intervals * 30 * MIN };
    expect(component(input, "syncFreshness")?.score).toBe(score);
  });

  it.each([
    [MIN, 1],
    [1, 1],
    [0, 0.25],
    [-1, 0.25],
  ])("an access token expiring %i ms from now scores %d", (left, score) => {
    expect(component({ ...fine, accessTokenExpiresAt: now + left }, "tokenState")?.score).toBe(score);
  });

  it.each([
    [{ failures: 2 }, 0.333],
    [{ failures: 3 }, 0],
    [{ transientFailures: 4 }, 0.2],
    [{ transientFailures: 5 }, 0],
    [{ failures: 2, transientFailures: 2 }, 0],
  ])("failure streak %o scores %d", (failures, score) => {
    expect(component({ ...fine, ...failures }, "failureStreak")?.score).toBe(score);
  });

  it("measures freshness against the connection's own interval when given", () => {
    const input = { ...fine, lastSyncedAt: now - 5 * 60 * MIN, expectedSyncIntervalMs: 60 * MIN };
    expect(component(input, "syncFreshness")?.score).toBe(0.5);
  });
});

describe("connection health from bad or missing inputs", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it.each<[string, Partial<ConnectionHealthInput>]>([
    ["NaN counts", { failures: Number.NaN, transientFailures: Number.NaN }],
    ["negative counts", { failures: -3, transientFailures: -1 }],
    ["NaN instants", { accessTokenExpiresAt: Number.NaN, lastSyncedAt: Number.NaN, connectedAt: Number.NaN }],
    ["no instants at all", { accessTokenExpiresAt: null, lastSyncedAt: null, connectedAt: null }],
    [
      "a zero or NaN interval (the default is used)",
      { expectedSyncIntervalMs: 0, rateLimitedUntil: Number.NaN },
    ],
    ["a sync after now (clock skew)", { lastSyncedAt: now + 5 * MIN }],
  ])("%s give a whole score and a status, never NaN", (_case, change) => {
    const result = connectionHealth({ ...fine, ...change }, settings);
    expect(Number.isInteger(result.score)).toBe(true);
    expect(result.score).toBeGreaterThanOrEqual(0);
    expect(result.score).toBeLessThanOrEqual(100);
    for (const c of result.components) {
      expect(c.score === null || Number.isFinite(c.score)).toBe(true);
      expect(c.value === null || Number.isFinite(c.value)).toBe(true);
    }
    expect(Number.isFinite(result.window.from)).toBe(true);
  });

  it("reads negative counts as none, a NaN interval as the default, a missing sync as never", () => {
    expect(connectionHealth({ ...fine, failures: -3 }, settings).score).toBe(100);
    expect(component({ ...fine, expectedSyncIntervalMs: Number.NaN }, "syncFreshness")?.score).toBe(1);
    const never = { ...fine, lastSyncedAt: null, connectedAt: null };
    expect(component(never, "syncFreshness")).toMatchObject({ score: 0, detail: "never synced" });
    expect(connectionHealth(never, settings).window).toEqual({ from: now, to: now });
  });

  it("refuses a clock that is not a number", () => {
    expect(() => connectionHealth({ ...fine, now: Number.NaN }, settings)).toThrow(RangeError);
  });

  it("is deterministic: same inputs, same result, whatever the wall clock", () => {
    const input = { ...fine, failures: 1, accessTokenExpiresAt: now - MIN };
    const first = connectionHealth(input, settings);
    vi.useFakeTimers();
    vi.setSystemTime(now + 365 * 24 * 60 * MIN);
    expect(connectionHealth(input, settings)).toEqual(first);
  });
});
