/**
 * What every health score is made of: components that each rate one aspect from 0 (worst) to 1
 * (best), a weighted sum of them scaled to 0–100, and a status read from thresholds on that sum.
 * Pure functions of their arguments; instants are epoch milliseconds and `now` is always an input.
 */

export const DAY_MS = 86_400_000;

/** One aspect of a score, with what was measured, so a person can see why the score is what it is. */
export type Component<Name extends string = string> = {
  name: Name;
  /** What was measured (days, a ratio, a count — the detail names the unit); null when unknown. */
  value: number | null;
  /** Share of the score: the weights of one result sum to 1; 0 for a component that does not count. */
  weight: number;
  /** 0 (worst) to 1 (best); null when its input is missing, and then it does not count. */
  score: number | null;
  /** One sentence for a person, e.g. "12 days since the last interaction (0 at 60)". */
  detail: string;
};

/** A component before weighting: its configured weight is applied by `weighComponents`. */
export type Rated<Name extends string = string> = Omit<Component<Name>, "weight">;

/** The instants the inputs of a score were taken from. */
export type ScoreWindow = { from: number; to: number };

export type HealthScore<Status extends string, Name extends string = string> = {
  /** 0 (worst) to 100 (best), an integer. */
  score: number;
  status: Status;
  components: Component<Name>[];
  window: ScoreWindow;
};

/** Relative weight of each component by name; used relative to their sum. */
export type Weights<Name extends string> = Readonly<Record<Name, number>>;

/** Score thresholds of a status scale, best status first: a score at or above `min` has `status`. */
export type Thresholds<Status extends string> = {
  levels: readonly { status: Status; min: number }[];
  /** The status of a score below every level. */
  below: Status;
};

/** A finite number, or null for NaN, ±Infinity, null and undefined (missing or corrupt input). */
export function finiteOrNull(value: number | null | undefined): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/** A count: negative, fractional or non-finite input counts as what it can honestly be (≥ 0, whole). */
export function countOf(value: number | null | undefined): number {
  const n = finiteOrNull(value);
  return n === null || n < 0 ? 0 : Math.floor(n);
}

export function clamp01(value: number): number {
  if (Number.isNaN(value)) return 0;
  return Math.min(1, Math.max(0, value));
}

/** Linear fall from 1 at `full` (and below) to 0 at `zero` (and above); `zero` must exceed `full`. */
export function linearDecline(value: number, full: number, zero: number): number {
  return clamp01((zero - value) / (zero - full));
}

/** Rounds for display (values and component scores), so stored components carry no float noise. */
export function round(value: number, decimals: number): number {
  const factor = 10 ** decimals;
  return Math.round(value * factor) / factor;
}

/** `now` is the caller's clock; a non-finite one is a bug in the caller, not bad user data. */
export function assertInstant(now: number): void {
  if (!Number.isFinite(now)) throw new RangeError(`now must be a finite epoch millisecond, got ${now}`);
}

/**
 * Applies the configured weights: a component with a null score does not count, and the weights of
 * those that do are rescaled to sum to 1. When none counts, every weight is 0.
 */
export function weighComponents<Name extends string>(
  rated: readonly Rated<Name>[],
  weights: Weights<Name>,
): Component<Name>[] {
  const weightOf = (c: Rated<Name>) =>
    c.score === null ? 0 : Math.max(0, finiteOrNull(weights[c.name]) ?? 0);
  const total = rated.reduce((sum, c) => sum + weightOf(c), 0);
  return rated.map((c) => ({
    name: c.name,
    value: c.value === null ? null : round(c.value, 2),
    weight: total > 0 ? weightOf(c) / total : 0,
    score: c.score === null ? null : round(c.score, 3),
    detail: c.detail,
  }));
}

/**
 * 0–100 integer from weighted components: Σ weight × score × 100, rounded. Uses the components'
 * rounded scores, so stored components reproduce the score (unless a rule of the subject overrides it).
 */
export function weightedScore(components: readonly Component[]): number {
  const sum = components.reduce((acc, c) => acc + c.weight * (c.score ?? 0), 0);
  return Math.round(clamp01(sum) * 100);
}

export function statusFor<Status extends string>(score: number, thresholds: Thresholds<Status>): Status {
  for (const level of thresholds.levels) if (score >= level.min) return level.status;
  return thresholds.below;
}

/** The components as the `health.changed` contract carries them: name → score (1 is best), counted ones only. */
export function componentScores(components: readonly Component[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of components) if (c.score !== null && c.weight > 0) out[c.name] = c.score;
  return out;
}

/** What `shouldAnnounce` compares: the last announced score of a subject, or the new one. */
export type Announced = { score: number; status: string };

/**
 * Publish `health.changed` for the first score of a subject, when the status changes, or when the
 * score moves by more than `threshold` points (a non-finite threshold counts as 0). The same inputs
 * always give the same answer.
 */
export function shouldAnnounce(previous: Announced | null, next: Announced, threshold: number): boolean {
  // A score that is not a number cannot be published (the contract refuses it); a stored one that
  // is not a number is no baseline to compare with.
  if (!Number.isFinite(next.score)) return false;
  if (previous === null || !Number.isFinite(previous.score)) return true;
  if (previous.status !== next.status) return true;
  const limit = Math.max(0, finiteOrNull(threshold) ?? 0);
  return Math.abs(next.score - previous.score) > limit;
}
