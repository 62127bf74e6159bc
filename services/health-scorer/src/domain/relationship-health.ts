import type { HealthStatus } from "@syncwell/contracts";
import {
  assertInstant,
  clamp01,
  DAY_MS,
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
 * Relationship health of a contact: how the user's communication with them compares with what is
 * usual for this contact, how recent it is, whether it goes both ways, whether they still meet, and
 * whether the contact has stopped answering.
 */

export const relationshipComponents = [
  "frequency",
  "recency",
  "reciprocity",
  "meetingCadence",
  "ghostRisk",
] as const;
export type RelationshipComponent = (typeof relationshipComponents)[number];
export type RelationshipHealthStatus = HealthStatus<"contact">;

export const defaultRelationshipWeights: Weights<RelationshipComponent> = {
  frequency: 0.3,
  recency: 0.25,
  reciprocity: 0.2,
  meetingCadence: 0.1,
  ghostRisk: 0.15,
};

export type RelationshipHealthSettings = {
  weights: Weights<RelationshipComponent>;
  /** Healthy at `healthyMin` and above, at_risk at `atRiskMin` and above, critical below (ghost apart). */
  healthyMin: number;
  atRiskMin: number;
  /** Interactions this many days back from now are scored (frequency, reciprocity, meetings, ghost risk). */
  windowDays: number;
  /** Recency falls linearly from 1 on the day of an interaction to 0 this many days after it. */
  recencyZeroDays: number;
  /** Ghost: at least this many messages in a row unanswered… */
  ghostAfterMessages: number;
  /** …the first of them at least this many days ago. */
  ghostAfterDays: number;
};

/** One email or meeting with the contact (a `communication_events` row). */
export type Interaction = {
  /** Epoch milliseconds; a non-finite instant is ignored. */
  at: number;
  direction: "inbound" | "outbound";
  channel: "email" | "meeting";
};

export type RelationshipHealthInput = {
  now: number;
  /** Interactions in any order; those outside [now − windowDays, now] are ignored. */
  interactions: readonly Interaction[];
  /** The contact's usual interactions per 30 days (e.g. over the past year); null when too new to tell. */
  baselinePer30Days: number | null;
  /** Their usual meetings per 30 days; null or 0 when the user does not meet them, and meetings do not count. */
  meetingBaselinePer30Days: number | null;
  /** The latest interaction ever, so recency reaches past the window; null: the window's latest. */
  lastInteractionAt?: number | null;
};

export type RelationshipHealth = HealthScore<RelationshipHealthStatus, RelationshipComponent>;

/** What happened inside the window, counted once for every component. */
type WindowSummary = {
  from: number;
  now: number;
  windowDays: number;
  inbound: number;
  outbound: number;
  meetings: number;
  latest: number | null;
  /** Outbound emails after the contact last wrote or met (a meeting counts as an answer). */
  unanswered: number;
  firstUnansweredAt: number | null;
};

/** The weighted components against the thresholds; a ghost is a ghost whatever the score. */
export function relationshipHealth(
  input: RelationshipHealthInput,
  settings: RelationshipHealthSettings,
): RelationshipHealth {
  assertInstant(input.now);
  const w = summarise(input, settings.windowDays);
  const ghost = ghostRisk(w, settings);
  const rated = [frequency(w, input.baselinePer30Days), recency(w, input, settings), reciprocity(w)];
  rated.push(meetingCadence(w, input.meetingBaselinePer30Days), ghost.component);
  const components = weighComponents(rated, settings.weights);
  const score = weightedScore(components);
  const status = ghost.isGhost
    ? "ghost"
    : statusFor<RelationshipHealthStatus>(score, {
        levels: [
          { status: "healthy", min: settings.healthyMin },
          { status: "at_risk", min: settings.atRiskMin },
        ],
        below: "critical",
      });
  return { score, status, components, window: { from: w.from, to: w.now } };
}

function summarise(input: RelationshipHealthInput, windowDays: number): WindowSummary {
  const { now } = input;
  const from = now - windowDays * DAY_MS;
  const w: WindowSummary = {
    from,
    now,
    windowDays,
    inbound: 0,
    outbound: 0,
    meetings: 0,
    latest: null,
    unanswered: 0,
    firstUnansweredAt: null,
  };
  let lastAnswer = Number.NEGATIVE_INFINITY;
  const inWindow = input.interactions.filter((i) => Number.isFinite(i.at) && i.at >= from && i.at <= now);
  for (const i of inWindow) {
    if (i.direction === "inbound") w.inbound++;
    else if (i.direction === "outbound") w.outbound++;
    else continue;
    if (i.channel === "meeting") w.meetings++;
    w.latest = Math.max(w.latest ?? i.at, i.at);
    if (i.direction === "inbound" || i.channel === "meeting") lastAnswer = Math.max(lastAnswer, i.at);
  }
  for (const i of inWindow) {
    if (i.direction !== "outbound" || i.channel !== "email" || i.at <= lastAnswer) continue;
    w.unanswered++;
    w.firstUnansweredAt = Math.min(w.firstUnansweredAt ?? i.at, i.at);
  }
  return w;
}

function frequency(w: WindowSummary, baseline: number | null): Rated<RelationshipComponent> {
  const usual = finiteOrNull(baseline);
  const per30 = ((w.inbound + w.outbound) * 30) / w.windowDays;
  if (usual === null || usual <= 0) {
    return {
      name: "frequency",
      value: null,
      score: null,
      detail: "no usual frequency known for this contact yet",
    };
  }
  return {
    name: "frequency",
    value: per30 / usual,
    score: clamp01(per30 / usual),
    detail: `${round(per30, 1)} interactions per 30 days, usually ${round(usual, 1)}`,
  };
}

function recency(
  w: WindowSummary,
  input: RelationshipHealthInput,
  settings: RelationshipHealthSettings,
): Rated<RelationshipComponent> {
  const known = [finiteOrNull(input.lastInteractionAt), w.latest].filter((t): t is number => t !== null);
  if (known.length === 0)
    return { name: "recency", value: null, score: 0, detail: "no interaction on record" };
  // An instant after now (a clock ahead of ours) counts as today.
  const days = Math.max(0, w.now - Math.max(...known)) / DAY_MS;
  return {
    name: "recency",
    value: days,
    score: linearDecline(days, 0, settings.recencyZeroDays),
    detail: `${Math.floor(days)} days since the last interaction (0 at ${settings.recencyZeroDays})`,
  };
}

function reciprocity(w: WindowSummary): Rated<RelationshipComponent> {
  const total = w.inbound + w.outbound;
  const detail = `${w.inbound} inbound, ${w.outbound} outbound in ${w.windowDays} days`;
  if (total === 0) return { name: "reciprocity", value: null, score: null, detail };
  // +1 on both sides: one unanswered message is not yet a one-sided relationship.
  const score = (Math.min(w.inbound, w.outbound) + 1) / (Math.max(w.inbound, w.outbound) + 1);
  return { name: "reciprocity", value: w.inbound / total, score, detail };
}

function meetingCadence(w: WindowSummary, baseline: number | null): Rated<RelationshipComponent> {
  const usual = finiteOrNull(baseline);
  if (usual === null || usual <= 0) {
    return {
      name: "meetingCadence",
      value: null,
      score: null,
      detail: "no usual meetings with this contact",
    };
  }
  const per30 = (w.meetings * 30) / w.windowDays;
  return {
    name: "meetingCadence",
    value: per30 / usual,
    score: clamp01(per30 / usual),
    detail: `${round(per30, 1)} meetings per 30 days, usually ${round(usual, 1)}`,
  };
}

/** Risk = share of the message count reached × share of the days reached; ghost when both are full. */
function ghostRisk(
  w: WindowSummary,
  settings: RelationshipHealthSettings,
): { component: Rated<RelationshipComponent>; isGhost: boolean } {
  if (w.unanswered === 0 || w.firstUnansweredAt === null) {
    return {
      component: { name: "ghostRisk", value: 0, score: 1, detail: "no unanswered message" },
      isGhost: false,
    };
  }
  const days = Math.max(0, w.now - w.firstUnansweredAt) / DAY_MS;
  const risk =
    Math.min(1, w.unanswered / settings.ghostAfterMessages) * Math.min(1, days / settings.ghostAfterDays);
  const isGhost = w.unanswered >= settings.ghostAfterMessages && days >= settings.ghostAfterDays;
  const messages = w.unanswered === 1 ? "message" : `${w.unanswered} messages`;
  return {
    component: {
      name: "ghostRisk",
      value: risk,
      score: 1 - risk,
      detail: `no reply to the last ${messages} in ${Math.floor(days)} days`,
    },
    isGhost,
  };
}
