import { afterEach, describe, expect, it, vi } from "vitest";
import {
  defaultRelationshipWeights,
  type Interaction,
  type RelationshipHealthInput,
  type RelationshipHealthSettings,
  relationshipComponents,
  relationshipHealth,
} from "./relationship-health.ts";
import { DAY_MS } from "./score.ts";

const now = Date.parse("2026-11-21T10:00:00Z");

const settings: RelationshipHealthSettings = {
  weights: defaultRelationshipWeights,
  healthyMin: 70,
  atRiskMin: 40,
  windowDays: 90,
  recencyZeroDays: 60,
  ghostAfterMessages: 3,
  ghostAfterDays: 14,
};

const daysAgo = (days: number) => now - days * DAY_MS;
const sent = (days: number): Interaction => ({ at: daysAgo(days), direction: "outbound", channel: "email" });
const received = (days: number): Interaction => ({
  at: daysAgo(days),
  direction: "inbound",
  channel: "email",
});
const met = (days: number): Interaction => ({ at: daysAgo(days), direction: "outbound", channel: "meeting" });

/** Every third day for 90 days, alternating, latest a reply: 15 inbound, 15 outbound, 3 of them meetings. */
const steady: Interaction[] = Array.from({ length: 30 }, (_, k) => {
  const days = 1 + 3 * k;
  if (k % 10 === 5) return met(days);
  return k % 2 === 0 ? received(days) : sent(days);
});

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, k) => from + k);

/** 16 interactions in 90 days: 7 received, 6 sent, a meeting, then 2 sent without a reply. */
const fading = [...range(26, 32).map(received), ...range(33, 38).map(sent), met(40), sent(25), sent(24)];

const base: RelationshipHealthInput = {
  now,
  interactions: steady,
  baselinePer30Days: 10,
  meetingBaselinePer30Days: 1,
};

function component(input: RelationshipHealthInput, name: string, s = settings) {
  return relationshipHealth(input, s).components.find((c) => c.name === name);
}

function only(name: keyof typeof defaultRelationshipWeights): RelationshipHealthSettings {
  const weights = { frequency: 0, recency: 0, reciprocity: 0, meetingCadence: 0, ghostRisk: 0, [name]: 1 };
  return { ...settings, weights };
}

describe("relationship health with the default settings", () => {
  it("scores a steady, two-way relationship at its usual pace healthy, every component explained", () => {
    const result = relationshipHealth(base, settings);
    expect(result.status).toBe("healthy");
    expect(result.score).toBe(100);
    expect(result.components).toEqual([
      {
        name: "frequency",
        value: 1,
        weight: 0.3,
        score: 1,
        detail: "10 interactions per 30 days, usually 10",
      },
      {
        name: "recency",
        value: 1,
        weight: 0.25,
        score: 0.983,
        detail: "1 days since the last interaction (0 at 60)",
      },
      {
        name: "reciprocity",
        value: 0.5,
        weight: 0.2,
        score: 1,
        detail: "15 inbound, 15 outbound in 90 days",
      },
      {
        name: "meetingCadence",
        value: 1,
        weight: 0.1,
        score: 1,
        detail: "1 meetings per 30 days, usually 1",
      },
      { name: "ghostRisk", value: 0, weight: 0.15, score: 1, detail: "no unanswered message" },
    ]);
    expect(result.window).toEqual({ from: daysAgo(90), to: now });
  });

  it("weights the components as documented, summing to 1", () => {
    const weights = relationshipHealth(base, settings).components.map((c) => c.weight);
    expect(weights).toEqual([0.3, 0.25, 0.2, 0.1, 0.15]);
    expect(Object.values(defaultRelationshipWeights).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(relationshipHealth(base, settings).components.map((c) => c.name)).toEqual([
      ...relationshipComponents,
    ]);
  });

  it.each<[string, Partial<RelationshipHealthInput>, number, string]>([
    // .3 × frequency 16/30 + .25 × recency (1 − 24/60) + .2 × reciprocity (7+1)/(9+1)
    // + .1 × meetings 1/3 + .15 × (1 − ghost risk 2/3 × 1) = .553
    [
      "fading: half the usual pace, a meeting of three, two messages unanswered",
      { interactions: fading },
      55,
      "at_risk",
    ],
    // Reciprocity cannot be judged: (.15 × ghost risk score 1) / (.3 + .25 + .1 + .15) = .1875
    [
      "nothing in 90 days, usually 10 a month",
      { interactions: [], lastInteractionAt: daysAgo(100) },
      19,
      "critical",
    ],
    // Meetings with them are usual: (.15 × 1) / (.25 + .1 + .15) = .3
    [
      "no interaction on record, meetings usual",
      { interactions: [], baselinePer30Days: null },
      30,
      "critical",
    ],
  ])("%s → %i, %s", (_case, change, score, status) => {
    const result = relationshipHealth({ ...base, ...change }, settings);
    expect({ score: result.score, status: result.status }).toEqual({ score, status });
  });

  it("leaves out what it cannot judge and rescales the rest (no baselines: recency, reciprocity, ghost risk)", () => {
    const result = relationshipHealth(
      { ...base, baselinePer30Days: null, meetingBaselinePer30Days: 0 },
      settings,
    );
    const weights = Object.fromEntries(result.components.map((c) => [c.name, c.weight]));
    expect(weights.frequency).toBe(0);
    expect(weights.meetingCadence).toBe(0);
    expect(weights.recency).toBeCloseTo(0.25 / 0.6, 12);
    expect(weights.reciprocity).toBeCloseTo(0.2 / 0.6, 12);
    expect(weights.ghostRisk).toBeCloseTo(0.15 / 0.6, 12);
    expect(result.components.find((c) => c.name === "frequency")).toMatchObject({ score: null, value: null });
  });
});

describe("relationship status boundaries", () => {
  // Recency alone: d days since the last interaction score 100 × (1 − d/60).
  it.each([
    [17.4, 71, "healthy"],
    [18, 70, "healthy"],
    [18.6, 69, "at_risk"],
    [35.4, 41, "at_risk"],
    [36, 40, "at_risk"],
    [36.6, 39, "critical"],
  ])("last interaction %d days ago → %i, %s", (days, score, status) => {
    const result = relationshipHealth({ ...base, interactions: [received(days)] }, only("recency"));
    expect({ score: result.score, status: result.status }).toEqual({ score, status });
  });

  it.each<[string, Interaction[], boolean]>([
    ["2 unanswered for 30 days", [received(40), sent(30), sent(20)], false],
    ["3 unanswered, the first 14 days less a minute ago", [sent(14 - 1 / 1440), sent(10), sent(1)], false],
    ["3 unanswered, the first exactly 14 days ago", [sent(14), sent(10), sent(1)], true],
    ["3 unanswered, the first 15 days ago", [sent(15), sent(10), sent(1)], true],
    ["4 unanswered after a reply", [received(50), sent(38), sent(30), sent(20), sent(2)], true],
    ["3 sent, then a reply", [sent(38), sent(30), sent(20), received(2)], false],
    ["3 sent, then a meeting (an answer too)", [sent(38), sent(30), sent(20), met(2)], false],
    ["a reply at the same instant as the 3rd message", [sent(38), sent(30), sent(20), received(20)], false],
  ])("%s → ghost: %s", (_case, interactions, ghost) => {
    const result = relationshipHealth({ ...base, interactions }, settings);
    expect(result.status === "ghost").toBe(ghost);
  });

  it("ghost overrides a score that is otherwise healthy, and the risk explains it", () => {
    const result = relationshipHealth(
      { ...base, interactions: [sent(38), sent(30), sent(20), sent(1)] },
      only("recency"),
    );
    expect(result.score).toBe(98);
    expect(result.status).toBe("ghost");
    expect(result.components.find((c) => c.name === "ghostRisk")).toMatchObject({
      value: 1,
      score: 0,
      detail: "no reply to the last 4 messages in 38 days",
    });
  });

  it.each([
    [1, 1, 1 / 3 / 14],
    [1, 14, 1 / 3],
    [3, 7, 0.5],
    [3, 13, 13 / 14],
    [2, 7, 1 / 3],
    [3, 14, 1],
    [5, 28, 1],
  ])("%i unanswered, the first %i days ago: ghost risk %d", (messages, days, risk) => {
    const interactions = Array.from({ length: messages }, (_, k) => sent(k === 0 ? days : days / 2));
    expect(component({ ...base, interactions }, "ghostRisk")?.value).toBeCloseTo(risk, 2);
  });

  it.each([
    [0, 0],
    [15, 0.5],
    [30, 1],
    [45, 1],
  ])("%i interactions in 90 days against a usual 10 a month: frequency %d", (count, score) => {
    const interactions = Array.from({ length: count }, (_, k) => (k % 2 ? sent(1 + k) : received(1 + k)));
    expect(component({ ...base, interactions }, "frequency")?.score).toBe(score);
  });

  it.each<[number, number, number | null]>([
    [0, 0, null],
    [0, 1, 0.5],
    [3, 9, 0.4],
    [5, 5, 1],
    [9, 0, 0.1],
  ])("%i inbound, %i outbound: reciprocity %s", (inbound, outbound, score) => {
    const interactions = [
      ...Array.from({ length: inbound }, (_, k) => received(2 + k)),
      ...Array.from({ length: outbound }, (_, k) => sent(2 + k)),
    ];
    expect(component({ ...base, interactions }, "reciprocity")?.score).toBe(score);
  });

  it.each([
    [0, 0],
    [1, 1 / 3],
    [3, 1],
    [6, 1],
  ])("%i meetings in 90 days against a usual 1 a month: cadence %d", (meetings, score) => {
    const interactions = Array.from({ length: meetings }, (_, k) => met(5 + k));
    expect(component({ ...base, interactions }, "meetingCadence")?.score).toBeCloseTo(score, 3);
  });

  it("counts interactions from exactly the window's start to now, and nothing outside", () => {
    const inside = [received(90), sent(0)];
    const outside = [received(90.001), { at: now + 1, direction: "inbound", channel: "email" } as const];
    expect(component({ ...base, interactions: [...inside, ...outside] }, "reciprocity")?.detail).toBe(
      "1 inbound, 1 outbound in 90 days",
    );
  });

  it("reaches past the window for recency with the latest interaction ever", () => {
    const input = { ...base, interactions: [], lastInteractionAt: daysAgo(45) };
    expect(component(input, "recency")).toMatchObject({ value: 45, score: 0.25 });
    expect(component({ ...input, lastInteractionAt: daysAgo(100) }, "recency")?.score).toBe(0);
  });
});

describe("relationship health from bad or missing inputs", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const odd = [
    { at: Number.NaN, direction: "inbound", channel: "email" },
    { at: daysAgo(2), direction: "sideways", channel: "email" },
  ] as unknown as Interaction[];

  it.each<[string, Partial<RelationshipHealthInput>]>([
    ["NaN instants and unknown directions (ignored)", { interactions: [...odd, sent(3)] }],
    ["NaN baselines", { baselinePer30Days: Number.NaN, meetingBaselinePer30Days: Number.NaN }],
    ["negative baselines", { baselinePer30Days: -4, meetingBaselinePer30Days: -1 }],
    ["a NaN latest interaction", { lastInteractionAt: Number.NaN }],
    ["an interaction after now", { lastInteractionAt: now + DAY_MS }],
    ["nothing at all", { interactions: [], baselinePer30Days: null, meetingBaselinePer30Days: null }],
  ])("%s give a whole score and a status, never NaN", (_case, change) => {
    const result = relationshipHealth({ ...base, ...change }, settings);
    expect(Number.isInteger(result.score)).toBe(true);
    expect(result.score).toBeGreaterThanOrEqual(0);
    expect(result.score).toBeLessThanOrEqual(100);
    for (const c of result.components) {
      expect(c.score === null || Number.isFinite(c.score)).toBe(true);
      expect(c.value === null || Number.isFinite(c.value)).toBe(true);
    }
  });

  it("ignores interactions it cannot read, and reads bad baselines as unknown", () => {
    expect(component({ ...base, interactions: [...odd, sent(3)] }, "reciprocity")?.detail).toBe(
      "0 inbound, 1 outbound in 90 days",
    );
    expect(component({ ...base, baselinePer30Days: -4 }, "frequency")).toMatchObject({
      score: null,
      weight: 0,
    });
    expect(component({ ...base, lastInteractionAt: now + DAY_MS }, "recency")?.score).toBe(1);
  });

  it("refuses a clock that is not a number", () => {
    expect(() => relationshipHealth({ ...base, now: Number.POSITIVE_INFINITY }, settings)).toThrow(
      RangeError,
    );
  });

  it("is deterministic: the order of interactions and the wall clock change nothing", () => {
    const first = relationshipHealth(base, settings);
    vi.useFakeTimers();
    vi.setSystemTime(now + 400 * DAY_MS);
    expect(relationshipHealth({ ...base, interactions: [...steady].reverse() }, settings)).toEqual(first);
  });
});
