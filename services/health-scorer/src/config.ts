import { commonEnv, envDurationMs, envInt, envPort } from "@syncwell/runtime";
import { z } from "zod";
import {
  type ConnectionComponent,
  type ConnectionHealthSettings,
  connectionComponents,
  defaultConnectionWeights,
} from "./domain/connection-health.ts";
import {
  type DealComponent,
  type DealHealthSettings,
  dealComponents,
  defaultDealWeights,
  stageKey,
} from "./domain/deal-health.ts";
import { parseNamedNumbers } from "./domain/named-numbers.ts";
import {
  defaultRelationshipWeights,
  type RelationshipComponent,
  type RelationshipHealthSettings,
  relationshipComponents,
} from "./domain/relationship-health.ts";
import type { Weights } from "./domain/score.ts";

/** Expected days per deal stage when HEALTH_DEAL_STAGE_DAYS is unset. */
export const DEFAULT_DEAL_STAGE_DAYS = "lead=14,qualified=21,proposal=14,negotiation=21";

const HOUR_MS = 3_600_000;

function weightList<Name extends string>(names: readonly Name[], defaults: Weights<Name>): string {
  return names.map((name) => `${name}=${defaults[name]}`).join(",");
}

/**
 * `name=weight` list over the defaults: unlisted components keep theirs; at least one must count.
 * Typed by name in `scoringSettings` (zod's defaults do not carry a generic record type).
 */
function envWeights<Name extends string>(subject: string, names: readonly Name[], defaults: Weights<Name>) {
  return z
    .string()
    .transform((raw, ctx): Readonly<Record<string, number>> => {
      const parsed = parseNamedNumbers(raw, { names, positive: false });
      if (!parsed.ok) {
        ctx.issues.push({
          code: "custom",
          message: `is not a valid weight list: ${parsed.error}`,
          input: raw,
        });
        return z.NEVER;
      }
      const weights: Record<Name, number> = { ...defaults };
      for (const [name, weight] of parsed.values) weights[name as Name] = weight;
      if (names.every((name) => weights[name] === 0)) {
        ctx.issues.push({
          code: "custom",
          message: "has every weight at 0 (one must be above 0)",
          input: raw,
        });
        return z.NEVER;
      }
      return weights;
    })
    .default({ ...defaults } as Record<string, number>)
    .describe(
      `${subject} component weights, relative to their sum: comma-separated <component>=<number ≥ 0>; unlisted components keep their default (default ${weightList(names, defaults)})`,
    );
}

function parseStageDays(raw: string) {
  return parseNamedNumbers(raw, { key: stageKey, positive: true });
}

function envStageDays() {
  const parsed = parseStageDays(DEFAULT_DEAL_STAGE_DAYS);
  if (!parsed.ok) throw new Error(`DEFAULT_DEAL_STAGE_DAYS: ${parsed.error}`);
  return z
    .string()
    .transform((raw, ctx) => {
      const stages = parseStageDays(raw);
      if (stages.ok) return stages.values as ReadonlyMap<string, number>;
      ctx.issues.push({ code: "custom", message: `is not a valid stage list: ${stages.error}`, input: raw });
      return z.NEVER;
    })
    .default(parsed.values)
    .describe(
      `expected days in each deal stage, comma-separated <stage>=<days above 0>; a stage not listed is not timed (default ${DEFAULT_DEAL_STAGE_DAYS})`,
    );
}

/** A score threshold, 0-100. */
function envScore(meaning: string, defaultValue: number) {
  return envInt({ min: 0, max: 100 })
    .default(defaultValue)
    .describe(`${meaning} (integer 0-100; default ${defaultValue})`);
}

function envDays(meaning: string, defaultValue: number) {
  return envInt({ min: 1, max: 3650 })
    .default(defaultValue)
    .describe(`${meaning} (days, integer 1-3650; default ${defaultValue})`);
}

function envCount(meaning: string, defaultValue: number) {
  return envInt({ min: 1, max: 1000 })
    .default(defaultValue)
    .describe(`${meaning} (integer 1-1000; default ${defaultValue})`);
}

function envDuration(meaning: string, defaultMs: number, defaultText: string) {
  return envDurationMs()
    .refine((ms) => ms >= 1000, "must be at least 1s")
    .default(defaultMs)
    .describe(`${meaning} (duration: 500ms, 10s, 5m, 1h; default ${defaultText})`);
}

/** The shortest API key accepted: 32 characters of a random key are out of reach of guessing. */
export const MIN_API_KEY_LENGTH = 32;

/**
 * HEALTH_API_KEYS: bearer keys of the contacts, deals and scores API, comma-separated, every one
 * valid (a new key is added beside the old one, clients move, the old one is removed). Messages
 * never quote a key: the runtime hides the value of a variable named *KEY*, and these say only
 * which item is wrong.
 */
function envApiKeys() {
  return z
    .string()
    .transform((raw, ctx) => {
      const keys = raw.split(",").map((key) => key.trim());
      keys.forEach((key, index) => {
        const problem =
          key.length < MIN_API_KEY_LENGTH
            ? `shorter than ${MIN_API_KEY_LENGTH} characters`
            : /^[\x21-\x2b\x2d-\x7e]+$/.test(key)
              ? undefined
              : "with a character other than printable ASCII";
        const message = `has key ${index + 1} of ${keys.length} ${problem}`;
        if (problem) ctx.issues.push({ code: "custom", message, input: raw });
      });
      return [...new Set(keys)];
    })
    .optional()
    .describe(
      `bearer keys of the API, comma-separated, each of at least ${MIN_API_KEY_LENGTH} printable ASCII characters; every listed key is valid (rotation); unset: no API`,
    );
}

/** Environment of the health-scorer. Shared variables come from commonEnv; its own are below. */
export const configSchema = z.object({
  ...commonEnv,
  HTTP_PORT: envPort().default(3004),
  /** Keys of the API (contacts, deals, scores, activity); unset, the service serves no API. */
  HEALTH_API_KEYS: envApiKeys(),
  /** A recomputed score is announced when its status changes or it moves by more than this. */
  HEALTH_ANNOUNCE_THRESHOLD: envScore(
    "a score that moves by more than this many points is announced, even with its status unchanged",
    10,
  ),
  /** The sweep recomputes scores older than this (scores whose inputs changed are recomputed at once). */
  HEALTH_SCORE_MAX_AGE: envDuration("age at which the sweep recomputes a score", 24 * HOUR_MS, "24h"),
  /** The sweep covers users seen within this time only. */
  HEALTH_ACTIVE_USER_WINDOW: envDuration("users seen within this time are swept", 7 * 24 * HOUR_MS, "168h"),

  HEALTH_CONNECTION_WEIGHTS: envWeights("connection", connectionComponents, defaultConnectionWeights),
  HEALTH_CONNECTION_HEALTHY_MIN: envScore("connection score from which it is healthy", 85),
  HEALTH_CONNECTION_WARNING_MIN: envScore("connection score from which it is warning, critical below", 50),
  /** The token service's needs_reauth rung: non-transient failures in a row that empty the failure streak. */
  HEALTH_CONNECTION_FAILURE_LIMIT: envCount("non-transient failed refreshes in a row that score 0", 3),
  /** The token service's rate_limited rung: transient failures in a row that empty the failure streak. */
  HEALTH_CONNECTION_TRANSIENT_FAILURE_LIMIT: envCount("transient failed refreshes in a row that score 0", 5),
  /** The poller's POLL_INTERVAL: what sync freshness is measured against. */
  HEALTH_CONNECTION_SYNC_INTERVAL: envDuration(
    "expected time between syncs of a connection",
    30 * 60_000,
    "30m",
  ),

  HEALTH_CONTACT_WEIGHTS: envWeights("relationship", relationshipComponents, defaultRelationshipWeights),
  HEALTH_CONTACT_HEALTHY_MIN: envScore("relationship score from which it is healthy", 70),
  HEALTH_CONTACT_AT_RISK_MIN: envScore("relationship score from which it is at_risk, critical below", 40),
  HEALTH_CONTACT_WINDOW_DAYS: envDays("interactions this many days back are scored", 90),
  HEALTH_CONTACT_RECENCY_DAYS: envDays("days without interaction at which recency scores 0", 60),
  HEALTH_CONTACT_GHOST_MESSAGES: envCount("unanswered messages in a row that make a ghost", 3),
  HEALTH_CONTACT_GHOST_DAYS: envDays("days since the first unanswered message that make a ghost", 14),

  HEALTH_DEAL_WEIGHTS: envWeights("deal", dealComponents, defaultDealWeights),
  HEALTH_DEAL_HEALTHY_MIN: envScore("deal score from which it is healthy", 70),
  HEALTH_DEAL_WARNING_MIN: envScore("deal score from which it is warning, critical below", 40),
  HEALTH_DEAL_STAGE_DAYS: envStageDays(),
  HEALTH_DEAL_ACTIVITY_DAYS: envDays("days without activity on a deal's contacts at which it scores 0", 21),
  HEALTH_DEAL_SLIPPAGE_DAYS: envDays("days of close-date slippage at which it scores 0", 30),
});

export type Config = z.output<typeof configSchema>;

/** Each scale's upper threshold above its lower one, named by the variable to change. */
const thresholdPairs = [
  ["HEALTH_CONNECTION_HEALTHY_MIN", "HEALTH_CONNECTION_WARNING_MIN"],
  ["HEALTH_CONTACT_HEALTHY_MIN", "HEALTH_CONTACT_AT_RISK_MIN"],
  ["HEALTH_DEAL_HEALTHY_MIN", "HEALTH_DEAL_WARNING_MIN"],
] as const;

/** The schema with its cross-field checks: a bad pair of thresholds stops the start naming the variable. */
export const healthScorerConfigSchema = configSchema.superRefine((value, ctx) => {
  for (const [upper, lower] of thresholdPairs) {
    if (value[upper] <= value[lower]) {
      ctx.addIssue({ code: "custom", path: [upper], message: `must be above ${lower} (${value[lower]})` });
    }
  }
});

/** What the scoring domain takes from the configuration. */
export type ScoringSettings = {
  connection: ConnectionHealthSettings;
  relationship: RelationshipHealthSettings;
  deal: DealHealthSettings;
  announceThreshold: number;
};

export function scoringSettings(config: Config): ScoringSettings {
  return {
    connection: {
      weights: config.HEALTH_CONNECTION_WEIGHTS as Weights<ConnectionComponent>,
      healthyMin: config.HEALTH_CONNECTION_HEALTHY_MIN,
      warningMin: config.HEALTH_CONNECTION_WARNING_MIN,
      failureLimit: config.HEALTH_CONNECTION_FAILURE_LIMIT,
      transientFailureLimit: config.HEALTH_CONNECTION_TRANSIENT_FAILURE_LIMIT,
      defaultSyncIntervalMs: config.HEALTH_CONNECTION_SYNC_INTERVAL,
    },
    relationship: {
      weights: config.HEALTH_CONTACT_WEIGHTS as Weights<RelationshipComponent>,
      healthyMin: config.HEALTH_CONTACT_HEALTHY_MIN,
      atRiskMin: config.HEALTH_CONTACT_AT_RISK_MIN,
      windowDays: config.HEALTH_CONTACT_WINDOW_DAYS,
      recencyZeroDays: config.HEALTH_CONTACT_RECENCY_DAYS,
      ghostAfterMessages: config.HEALTH_CONTACT_GHOST_MESSAGES,
      ghostAfterDays: config.HEALTH_CONTACT_GHOST_DAYS,
    },
    deal: {
      weights: config.HEALTH_DEAL_WEIGHTS as Weights<DealComponent>,
      healthyMin: config.HEALTH_DEAL_HEALTHY_MIN,
      warningMin: config.HEALTH_DEAL_WARNING_MIN,
      stageDays: config.HEALTH_DEAL_STAGE_DAYS,
      activityZeroDays: config.HEALTH_DEAL_ACTIVITY_DAYS,
      slippageZeroDays: config.HEALTH_DEAL_SLIPPAGE_DAYS,
    },
    announceThreshold: config.HEALTH_ANNOUNCE_THRESHOLD,
  };
}
