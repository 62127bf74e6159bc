import { describe, expect, it } from "vitest";
import {
  clamp01,
  componentScores,
  countOf,
  linearDecline,
  type Rated,
  shouldAnnounce,
  statusFor,
  weighComponents,
  weightedScore,
} from "./score.ts";

const thresholds = {
  levels: [
    { status: "healthy", min: 70 },
    { status: "warning", min: 40 },
  ],
  below: "critical",
} as const;

describe("status from thresholds", () => {
  it.each([
    [100, "healthy"],
    [71, "healthy"],
    [70, "healthy"],
    [69, "warning"],
    [41, "warning"],
    [40, "warning"],
    [39, "critical"],
    [0, "critical"],
  ])("score %i is %s (a score at a threshold takes the better status)", (score, status) => {
    expect(statusFor(score, thresholds)).toBe(status);
  });
});

describe("weights", () => {
  const rated: Rated<"a" | "b" | "c">[] = [
    { name: "a", value: 1, score: 1, detail: "a" },
    { name: "b", value: 0, score: 0, detail: "b" },
    { name: "c", value: null, score: null, detail: "c is unknown" },
  ];

  it("rescales the weights of the components that count to sum to 1; one without a score weighs 0", () => {
    const components = weighComponents(rated, { a: 3, b: 1, c: 4 });
    expect(components.map((c) => c.weight)).toEqual([0.75, 0.25, 0]);
    expect(weightedScore(components)).toBe(75);
  });

  it("gives every weight 0 when nothing counts, and a score of 0 instead of NaN", () => {
    const components = weighComponents(rated, { a: 0, b: 0, c: 1 });
    expect(components.map((c) => c.weight)).toEqual([0, 0, 0]);
    expect(weightedScore(components)).toBe(0);
  });

  it("treats a negative or non-finite weight as 0", () => {
    const components = weighComponents(rated, { a: Number.NaN, b: -2, c: 1 });
    expect(components.map((c) => c.weight)).toEqual([0, 0, 0]);
    expect(weighComponents(rated, { a: 1, b: Number.POSITIVE_INFINITY, c: 0 })[0]?.weight).toBe(1);
  });

  it("rounds component values and scores for display, and the score from the rounded ones", () => {
    const [c] = weighComponents([{ name: "a", value: 1 / 3, score: 2 / 3, detail: "" }], { a: 1 });
    expect(c).toMatchObject({ value: 0.33, score: 0.667, weight: 1 });
    expect(
      weightedScore(weighComponents([{ name: "a", value: 0, score: 0.845, detail: "" }], { a: 1 })),
    ).toBe(85);
  });

  it("keeps only the counted components for the health.changed contract", () => {
    expect(componentScores(weighComponents(rated, { a: 1, b: 1, c: 1 }))).toEqual({ a: 1, b: 0 });
  });
});

describe("numbers from outside", () => {
  it.each([
    [3, 3],
    [2.7, 2],
    [-1, 0],
    [Number.NaN, 0],
    [Number.POSITIVE_INFINITY, 0],
    [null, 0],
    [undefined, 0],
  ])("count of %s is %i", (value, count) => {
    expect(countOf(value)).toBe(count);
  });

  it("clamps to 0..1, NaN to 0", () => {
    expect([clamp01(-0.1), clamp01(0.4), clamp01(1.2), clamp01(Number.NaN)]).toEqual([0, 0.4, 1, 0]);
  });

  it.each([
    [0, 1],
    [10, 1],
    [15, 0.5],
    [20, 0],
    [25, 0],
  ])("a linear decline from 10 to 20 at %i is %d", (value, expected) => {
    expect(linearDecline(value, 10, 20)).toBe(expected);
  });
});

describe("shouldAnnounce", () => {
  const previous = { score: 60, status: "at_risk" };
  it.each([
    ["the first score of a subject", null, { score: 90, status: "healthy" }, true],
    ["the status changes", previous, { score: 61, status: "healthy" }, true],
    ["the status changes, score the same", previous, { score: 60, status: "critical" }, true],
    ["the score moves by more than the threshold (up)", previous, { score: 71, status: "at_risk" }, true],
    ["the score moves by more than the threshold (down)", previous, { score: 49, status: "at_risk" }, true],
    ["the score moves by exactly the threshold", previous, { score: 70, status: "at_risk" }, false],
    ["the score moves by less than the threshold", previous, { score: 51, status: "at_risk" }, false],
    ["nothing changed", previous, { score: 60, status: "at_risk" }, false],
    ["the stored score is not a number", { score: Number.NaN, status: "at_risk" }, previous, true],
    ["the new score is not a number", previous, { score: Number.NaN, status: "healthy" }, false],
  ])("%s → %s", (_case, prev, next, expected) => {
    expect(shouldAnnounce(prev, next, 10)).toBe(expected);
  });

  it("is deterministic, and a bad threshold counts as 0 (any move is announced)", () => {
    const next = { score: 61, status: "at_risk" };
    const answers = Array.from({ length: 5 }, () => shouldAnnounce(previous, next, 10));
    expect(new Set(answers)).toEqual(new Set([false]));
    expect(shouldAnnounce(previous, next, Number.NaN)).toBe(true);
    expect(shouldAnnounce(previous, next, -5)).toBe(true);
    expect(shouldAnnounce(previous, previous, Number.NaN)).toBe(false);
  });
});
