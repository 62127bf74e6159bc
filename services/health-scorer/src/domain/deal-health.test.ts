import { afterEach, describe, expect, it, vi } from "vitest";
import {
  type DealHealthInput,
  type DealHealthSettings,
  dealComponents,
  dealHealth,
  defaultDealWeights,
  stageKey,
} from "./deal-health.ts";
import { DAY_MS } from "./score.ts";

const now = Date.parse("2026-11-21T10:00:00Z");
const daysAgo = (days: number) => now - days * DAY_MS;

const settings: DealHealthSettings = {
  weights: defaultDealWeights,
  healthyMin: 70,
  warningMin: 40,
  stageDays: new Map([
    ["lead", 14],
    ["qualified", 21],
    ["proposal", 14],
    ["negotiation", 21],
  ]),
  activityZeroDays: 21,
  slippageZeroDays: 30,
};

const onTrack: DealHealthInput = {
  now,
  stage: "proposal",
  stageEnteredAt: daysAgo(3),
  lastActivityAt: daysAgo(1),
  closeAt: now + 20 * DAY_MS,
};

function component(input: DealHealthInput, name: string, s = settings) {
  return dealHealth(input, s).components.find((c) => c.name === name);
}

function only(name: keyof typeof defaultDealWeights): DealHealthSettings {
  const weights = { stageVelocity: 0, activityRecency: 0, closeDateSlippage: 0, [name]: 1 };
  return { ...settings, weights };
}

describe("deal health with the default settings", () => {
  it.each<[string, Partial<DealHealthInput>, number, string]>([
    // .45 × 1 + .35 × (1 − 1/21) + .2 × 1
    ["on track", {}, 98, "healthy"],
    // velocity (1 − 13/14) / .5 = .143, activity 1 − 2/21
    ["13 of 14 days in proposal", { stageEnteredAt: daysAgo(13), lastActivityAt: daysAgo(2) }, 58, "warning"],
    [
      "exactly its 14 days in proposal",
      { stageEnteredAt: daysAgo(14), lastActivityAt: daysAgo(2) },
      52,
      "warning",
    ],
    ["14 days and a minute in proposal", { stageEnteredAt: daysAgo(14 + 1 / 1440) }, 53, "stalled"],
    [
      "in proposal for 34 days, no activity for 19",
      { stageEnteredAt: daysAgo(34), lastActivityAt: daysAgo(19) },
      23,
      "stalled",
    ],
    // .45 × (1 − 10/14) / .5 + 0 + 0
    [
      "late in its stage, silent, the close date long passed",
      { stageEnteredAt: daysAgo(10), lastActivityAt: null, closeAt: daysAgo(40) },
      26,
      "critical",
    ],
    [
      "a stage without an expected duration is not timed",
      { stage: "discovery", stageEnteredAt: daysAgo(300) },
      97,
      "healthy",
    ],
  ])("%s → %i, %s", (_case, change, score, status) => {
    const result = dealHealth({ ...onTrack, ...change }, settings);
    expect({ score: result.score, status: result.status }).toEqual({ score, status });
  });

  it("explains every component, with weights summing to 1 as documented", () => {
    const result = dealHealth(
      { ...onTrack, stageEnteredAt: daysAgo(34), lastActivityAt: daysAgo(19) },
      settings,
    );
    expect(result.components.map((c) => c.name)).toEqual([...dealComponents]);
    expect(result.components.map((c) => c.weight)).toEqual([0.45, 0.35, 0.2]);
    expect(Object.values(defaultDealWeights).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(result.components[0]).toEqual({
      name: "stageVelocity",
      value: 2.43,
      weight: 0.45,
      score: 0,
      detail: "in stage proposal for 34 days (expected 14)",
    });
    expect(result.window).toEqual({ from: daysAgo(34), to: now });
  });

  it("rescales the weights when the stage is not timed or there is no close date", () => {
    const untimed = dealHealth({ ...onTrack, stage: "discovery", closeAt: null }, settings).components;
    expect(untimed.map((c) => [c.name, c.weight, c.score])).toEqual([
      ["stageVelocity", 0, null],
      ["activityRecency", 1, 0.952],
      ["closeDateSlippage", 0, null],
    ]);
    expect(untimed[0]?.detail).toBe("no expected duration for stage discovery");
  });

  it("matches stage names without case or surrounding spaces", () => {
    expect(stageKey(" Proposal ")).toBe("proposal");
    const result = dealHealth({ ...onTrack, stage: " Proposal ", stageEnteredAt: daysAgo(15) }, settings);
    expect(result.status).toBe("stalled");
  });
});

describe("deal status boundaries", () => {
  // Activity recency alone: d days of silence score 100 × (1 − d/21).
  it.each([
    [6.09, 71, "healthy"],
    [6.3, 70, "healthy"],
    [6.51, 69, "warning"],
    [12.39, 41, "warning"],
    [12.6, 40, "warning"],
    [12.81, 39, "critical"],
  ])("%d days since the last activity → %i, %s", (days, score, status) => {
    const result = dealHealth({ ...onTrack, lastActivityAt: daysAgo(days) }, only("activityRecency"));
    expect({ score: result.score, status: result.status }).toEqual({ score, status });
  });

  it.each<[string, number, number, boolean]>([
    ["proposal", 14, -1, false],
    ["proposal", 14, 0, false],
    ["proposal", 14, 1, true],
    ["negotiation", 21, -1, false],
    ["negotiation", 21, 0, false],
    ["negotiation", 21, 1, true],
  ])("in %s (expected %i days) for that long %+i ms → stalled: %s", (stage, days, ms, stalled) => {
    const result = dealHealth({ ...onTrack, stage, stageEnteredAt: now - days * DAY_MS - ms }, settings);
    expect(result.status === "stalled").toBe(stalled);
  });

  it.each([
    [0, 1],
    [7, 1],
    [10.5, 0.5],
    [14, 0],
    [28, 0],
  ])("%d days into a 14-day stage: velocity %d", (days, score) => {
    expect(component({ ...onTrack, stageEnteredAt: daysAgo(days) }, "stageVelocity")?.score).toBe(score);
  });

  it.each<[string, Partial<DealHealthInput>, number]>([
    ["close date ahead, never moved", {}, 1],
    ["close date passed 15 days ago", { closeAt: daysAgo(15) }, 0.5],
    ["close date passed 30 days ago", { closeAt: daysAgo(30) }, 0],
    ["close date moved 10 days later, still ahead", { originalCloseAt: now + 10 * DAY_MS }, 0.667],
    ["moved 10 days later and passed 5 days ago", { closeAt: daysAgo(5), originalCloseAt: daysAgo(15) }, 0.5],
    ["moved earlier", { originalCloseAt: now + 40 * DAY_MS }, 1],
  ])("%s: slippage %d", (_case, change, score) => {
    expect(component({ ...onTrack, ...change }, "closeDateSlippage")?.score).toBe(score);
  });
});

describe("deal health from bad or missing inputs", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it.each<[string, Partial<DealHealthInput>]>([
    ["NaN instants", { stageEnteredAt: Number.NaN, lastActivityAt: Number.NaN, closeAt: Number.NaN }],
    [
      "no instants at all",
      { stageEnteredAt: null, lastActivityAt: null, closeAt: null, originalCloseAt: null },
    ],
    ["instants after now (clock skew)", { stageEnteredAt: now + DAY_MS, lastActivityAt: now + DAY_MS }],
    ["an empty stage name", { stage: "" }],
  ])("%s give a whole score and a status, never NaN", (_case, change) => {
    const result = dealHealth({ ...onTrack, ...change }, settings);
    expect(Number.isInteger(result.score)).toBe(true);
    expect(result.score).toBeGreaterThanOrEqual(0);
    expect(result.score).toBeLessThanOrEqual(100);
    for (const c of result.components) {
      expect(c.score === null || Number.isFinite(c.score)).toBe(true);
      expect(c.value === null || Number.isFinite(c.value)).toBe(true);
    }
    expect(result.window.from).toBeLessThanOrEqual(now);
  });

  it("does not time a stage of unknown start or a zero expected duration, and scores no activity as 0", () => {
    expect(component({ ...onTrack, stageEnteredAt: null }, "stageVelocity")).toMatchObject({
      score: null,
      detail: "unknown since when the deal is in stage proposal",
    });
    const zero = { ...settings, stageDays: new Map([["proposal", 0]]) };
    expect(dealHealth({ ...onTrack, stageEnteredAt: daysAgo(30) }, zero).status).not.toBe("stalled");
    expect(component({ ...onTrack, lastActivityAt: null }, "activityRecency")).toMatchObject({
      score: 0,
      value: null,
    });
  });

  it("refuses a clock that is not a number", () => {
    expect(() => dealHealth({ ...onTrack, now: Number.NaN }, settings)).toThrow(RangeError);
  });

  it("is deterministic: same inputs, same result, whatever the wall clock", () => {
    const input = { ...onTrack, stageEnteredAt: daysAgo(12) };
    const first = dealHealth(input, settings);
    vi.useFakeTimers();
    vi.setSystemTime(now + 100 * DAY_MS);
    expect(dealHealth(input, settings)).toEqual(first);
  });
});
