import type { HealthStatus } from "@syncwell/contracts";
import {
  assertInstant,
  DAY_MS,
  finiteOrNull,
  type HealthScore,
  linearDecline,
  type Rated,
  statusFor,
  type Weights,
  weighComponents,
  weightedScore,
} from "./score.ts";

/**
 * Deal health: is the deal moving through its stages at the expected pace, is anyone still talking
 * with its contacts, and is its close date holding?
 */

export const dealComponents = ["stageVelocity", "activityRecency", "closeDateSlippage"] as const;
export type DealComponent = (typeof dealComponents)[number];
export type DealHealthStatus = HealthStatus<"deal">;

export const defaultDealWeights: Weights<DealComponent> = {
  stageVelocity: 0.45,
  activityRecency: 0.35,
  closeDateSlippage: 0.2,
};

/**
 * Stage velocity keeps full marks for this share of the stage's expected duration, then falls
 * linearly to 0 at the expected duration; past it the deal is stalled.
 */
export const STAGE_GRACE_SHARE = 0.5;

export type DealHealthSettings = {
  weights: Weights<DealComponent>;
  /** Healthy at `healthyMin` and above, warning at `warningMin` and above, critical below (stalled apart). */
  healthyMin: number;
  warningMin: number;
  /** Expected days in each stage, by `stageKey(stage)`; a stage not listed is not timed. */
  stageDays: ReadonlyMap<string, number>;
  /** Activity recency falls linearly from 1 on the day of an interaction to 0 this many days after it. */
  activityZeroDays: number;
  /** Close-date slippage falls linearly from 1 (no slippage) to 0 at this many days of slippage. */
  slippageZeroDays: number;
};

export type DealHealthInput = {
  now: number;
  stage: string;
  /** When the deal entered its current stage; null when unknown (the stage is then not timed). */
  stageEnteredAt: number | null;
  /** The latest interaction with any of the deal's contacts; null when there is none. */
  lastActivityAt: number | null;
  /** Expected close date; null when none is set. */
  closeAt: number | null;
  /** The close date as first set, when it was moved since; null or absent: `closeAt`. */
  originalCloseAt?: number | null;
};

export type DealHealth = HealthScore<DealHealthStatus, DealComponent>;

/** Stage names compare without case or surrounding spaces ("Proposal " is "proposal"). */
export function stageKey(stage: string): string {
  return stage.trim().toLowerCase();
}

/** The weighted components against the thresholds; a deal past its stage's expected duration is stalled. */
export function dealHealth(input: DealHealthInput, settings: DealHealthSettings): DealHealth {
  const { now } = input;
  assertInstant(now);
  const velocity = stageVelocity(input, settings);
  const rated = [velocity.component, activityRecency(input, settings), closeDateSlippage(input, settings)];
  const components = weighComponents(rated, settings.weights);
  const score = weightedScore(components);
  const status = velocity.stalled
    ? "stalled"
    : statusFor<DealHealthStatus>(score, {
        levels: [
          { status: "healthy", min: settings.healthyMin },
          { status: "warning", min: settings.warningMin },
        ],
        below: "critical",
      });
  const instants = [finiteOrNull(input.stageEnteredAt), finiteOrNull(input.lastActivityAt)];
  const from = Math.min(now, ...instants.filter((t): t is number => t !== null));
  return { score, status, components, window: { from, to: now } };
}

function stageVelocity(
  input: DealHealthInput,
  settings: DealHealthSettings,
): { component: Rated<DealComponent>; stalled: boolean } {
  const name = "stageVelocity";
  const expected = settings.stageDays.get(stageKey(input.stage));
  const entered = finiteOrNull(input.stageEnteredAt);
  if (expected === undefined || !(expected > 0)) {
    const detail = `no expected duration for stage ${input.stage}`;
    return { component: { name, value: null, score: null, detail }, stalled: false };
  }
  if (entered === null) {
    const detail = `unknown since when the deal is in stage ${input.stage}`;
    return { component: { name, value: null, score: null, detail }, stalled: false };
  }
  const days = Math.max(0, input.now - entered) / DAY_MS;
  const ratio = days / expected;
  return {
    component: {
      name,
      value: ratio,
      score: linearDecline(ratio, STAGE_GRACE_SHARE, 1),
      detail: `in stage ${input.stage} for ${Math.floor(days)} days (expected ${expected})`,
    },
    stalled: ratio > 1,
  };
}

function activityRecency(input: DealHealthInput, settings: DealHealthSettings): Rated<DealComponent> {
  const last = finiteOrNull(input.lastActivityAt);
  if (last === null) {
    return { name: "activityRecency", value: null, score: 0, detail: "no activity with the deal's contacts" };
  }
  const days = Math.max(0, input.now - last) / DAY_MS;
  return {
    name: "activityRecency",
    value: days,
    score: linearDecline(days, 0, settings.activityZeroDays),
    detail: `${Math.floor(days)} days since the last activity with its contacts (0 at ${settings.activityZeroDays})`,
  };
}

/**
 * Slippage: how far the close date moved later than first set, plus how far it lies in the past
 * (a close date that passed without the deal closing slips every day).
 */
function closeDateSlippage(input: DealHealthInput, settings: DealHealthSettings): Rated<DealComponent> {
  const closeAt = finiteOrNull(input.closeAt);
  if (closeAt === null)
    return { name: "closeDateSlippage", value: null, score: null, detail: "no close date" };
  const planned = finiteOrNull(input.originalCloseAt) ?? closeAt;
  const days = Math.max(0, Math.max(closeAt, input.now) - planned) / DAY_MS;
  return {
    name: "closeDateSlippage",
    value: days,
    score: linearDecline(days, 0, settings.slippageZeroDays),
    detail:
      days === 0
        ? "the close date holds"
        : `the close date slipped ${Math.ceil(days)} days (0 at ${settings.slippageZeroDays})`,
  };
}
