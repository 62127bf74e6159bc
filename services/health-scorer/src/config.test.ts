import { ConfigError, loadConfig } from "@syncwell/runtime";
import { describe, expect, it } from "vitest";
import { healthScorerConfigSchema, scoringSettings } from "./config.ts";
import { defaultConnectionWeights } from "./domain/connection-health.ts";
import { defaultDealWeights } from "./domain/deal-health.ts";
import { defaultRelationshipWeights } from "./domain/relationship-health.ts";

const base = { DATABASE_URL: "postgresql://postgres@127.0.0.1:5432/syncwell" };

function load(env: Record<string, string> = {}) {
  return loadConfig(healthScorerConfigSchema, { ...base, ...env });
}

function configError(env: Record<string, string>): ConfigError {
  try {
    load(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("health-scorer config", () => {
  it("has the documented defaults", () => {
    const config = load();
    expect(config.HTTP_PORT).toBe(3004);
    expect(config.HEALTH_ANNOUNCE_THRESHOLD).toBe(10);
    expect(config.HEALTH_SCORE_MAX_AGE).toBe(24 * 3_600_000);
    expect(config.HEALTH_ACTIVE_USER_WINDOW).toBe(7 * 24 * 3_600_000);
    expect(scoringSettings(config)).toEqual({
      connection: {
        weights: defaultConnectionWeights,
        healthyMin: 85,
        warningMin: 50,
        failureLimit: 3,
        transientFailureLimit: 5,
        defaultSyncIntervalMs: 30 * 60_000,
      },
      relationship: {
        weights: defaultRelationshipWeights,
        healthyMin: 70,
        atRiskMin: 40,
        windowDays: 90,
        recencyZeroDays: 60,
        ghostAfterMessages: 3,
        ghostAfterDays: 14,
      },
      deal: {
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
      },
      announceThreshold: 10,
    });
  });

  it("reads every setting from the environment; unlisted weights keep their defaults", () => {
    const settings = scoringSettings(
      load({
        HEALTH_ANNOUNCE_THRESHOLD: "5",
        HEALTH_SCORE_MAX_AGE: "6h",
        HEALTH_ACTIVE_USER_WINDOW: "72h",
        HEALTH_CONNECTION_WEIGHTS: "rateLimit=0, tokenstate=0.5",
        HEALTH_CONNECTION_HEALTHY_MIN: "90",
        HEALTH_CONNECTION_WARNING_MIN: "60",
        HEALTH_CONNECTION_FAILURE_LIMIT: "4",
        HEALTH_CONNECTION_TRANSIENT_FAILURE_LIMIT: "8",
        HEALTH_CONNECTION_SYNC_INTERVAL: "15m",
        HEALTH_CONTACT_WEIGHTS: "ghostRisk=0.3",
        HEALTH_CONTACT_HEALTHY_MIN: "75",
        HEALTH_CONTACT_AT_RISK_MIN: "35",
        HEALTH_CONTACT_WINDOW_DAYS: "180",
        HEALTH_CONTACT_RECENCY_DAYS: "45",
        HEALTH_CONTACT_GHOST_MESSAGES: "4",
        HEALTH_CONTACT_GHOST_DAYS: "21",
        HEALTH_DEAL_WEIGHTS: "stageVelocity=2,activityRecency=1,closeDateSlippage=1",
        HEALTH_DEAL_HEALTHY_MIN: "80",
        HEALTH_DEAL_WARNING_MIN: "50",
        HEALTH_DEAL_STAGE_DAYS: "Discovery=7, proposal=10.5",
        HEALTH_DEAL_ACTIVITY_DAYS: "14",
        HEALTH_DEAL_SLIPPAGE_DAYS: "10",
      }),
    );
    expect(settings.announceThreshold).toBe(5);
    expect(settings.connection).toEqual({
      weights: { tokenState: 0.5, failureStreak: 0.3, syncFreshness: 0.25, rateLimit: 0 },
      healthyMin: 90,
      warningMin: 60,
      failureLimit: 4,
      transientFailureLimit: 8,
      defaultSyncIntervalMs: 15 * 60_000,
    });
    expect(settings.relationship).toMatchObject({
      weights: { ...defaultRelationshipWeights, ghostRisk: 0.3 },
      healthyMin: 75,
      atRiskMin: 35,
      windowDays: 180,
      recencyZeroDays: 45,
      ghostAfterMessages: 4,
      ghostAfterDays: 21,
    });
    expect(settings.deal).toEqual({
      weights: { stageVelocity: 2, activityRecency: 1, closeDateSlippage: 1 },
      healthyMin: 80,
      warningMin: 50,
      stageDays: new Map([
        ["discovery", 7],
        ["proposal", 10.5],
      ]),
      activityZeroDays: 14,
      slippageZeroDays: 10,
    });
    const config = load({ HEALTH_SCORE_MAX_AGE: "6h", HEALTH_ACTIVE_USER_WINDOW: "72h" });
    expect([config.HEALTH_SCORE_MAX_AGE, config.HEALTH_ACTIVE_USER_WINDOW]).toEqual([
      6 * 3_600_000,
      72 * 3_600_000,
    ]);
  });

  it.each([
    ["HEALTH_ANNOUNCE_THRESHOLD", "101", "is out of range"],
    ["HEALTH_ANNOUNCE_THRESHOLD", "ten", "is not an integer"],
    ["HEALTH_SCORE_MAX_AGE", "1 day", "is not a valid duration"],
    ["HEALTH_SCORE_MAX_AGE", "500ms", "must be at least 1s"],
    ["HEALTH_ACTIVE_USER_WINDOW", "7d", "is not a valid duration"],
    ["HEALTH_CONNECTION_WEIGHTS", "tokenState=-1", "needs a number of 0 or more"],
    ["HEALTH_CONNECTION_WEIGHTS", "speed=1", "one of tokenState, failureStreak, syncFreshness, rateLimit"],
    [
      "HEALTH_CONNECTION_WEIGHTS",
      "tokenState=0,failureStreak=0,syncFreshness=0,rateLimit=0",
      "has every weight at 0",
    ],
    ["HEALTH_CONNECTION_FAILURE_LIMIT", "0", "is out of range"],
    ["HEALTH_CONNECTION_SYNC_INTERVAL", "0", "must be at least 1s"],
    ["HEALTH_CONTACT_WEIGHTS", "recency", "is not <name>=<number>"],
    ["HEALTH_CONTACT_WINDOW_DAYS", "0", "is out of range"],
    ["HEALTH_CONTACT_GHOST_MESSAGES", "2.5", "is not an integer"],
    ["HEALTH_DEAL_WEIGHTS", "stageVelocity=fast", "needs a number of 0 or more"],
    ["HEALTH_DEAL_STAGE_DAYS", "proposal=0", "needs a number above 0"],
    ["HEALTH_DEAL_STAGE_DAYS", "proposal=14,Proposal=21", '"proposal" is listed twice'],
    ["HEALTH_DEAL_STAGE_DAYS", "proposal", "is not <name>=<number>"],
    ["HEALTH_DEAL_SLIPPAGE_DAYS", "-3", "is out of range"],
  ])("stops on a bad %s (%s), naming the variable", (variable, value, message) => {
    const err = configError({ [variable]: value });
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]?.variable).toBe(variable);
    expect(err.issues[0]?.message).toContain(message);
    expect(err.message).toContain(`${variable}: ${JSON.stringify(value)}`);
  });

  it.each([
    ["HEALTH_CONNECTION_HEALTHY_MIN", "HEALTH_CONNECTION_WARNING_MIN"],
    ["HEALTH_CONTACT_HEALTHY_MIN", "HEALTH_CONTACT_AT_RISK_MIN"],
    ["HEALTH_DEAL_HEALTHY_MIN", "HEALTH_DEAL_WARNING_MIN"],
  ])("stops when %s is not above %s", (upper, lower) => {
    expect(() => load({ [upper]: "51", [lower]: "50" })).not.toThrow();
    for (const value of ["50", "49"]) {
      const err = configError({ [upper]: value, [lower]: "50" });
      expect(err.issues).toEqual([
        { variable: upper, message: expect.stringContaining(`"${value}" must be above ${lower} (50)`) },
      ]);
    }
  });

  it("names every bad variable at once, with the expected form", () => {
    const err = configError({ HEALTH_CONTACT_WEIGHTS: "x=1", HEALTH_DEAL_STAGE_DAYS: "lead=soon" });
    expect(err.issues.map((i) => i.variable)).toEqual(["HEALTH_CONTACT_WEIGHTS", "HEALTH_DEAL_STAGE_DAYS"]);
    expect(err.issues[1]?.message).toContain("(expected days in each deal stage");
  });

  it("reads HEALTH_API_KEYS as a list of keys, every one valid; unset means no API", () => {
    const current = "k".repeat(32);
    const next = "n".repeat(40);
    expect(load().HEALTH_API_KEYS).toBeUndefined();
    expect(load({ HEALTH_API_KEYS: ` ${current} , ${next}` }).HEALTH_API_KEYS).toEqual([current, next]);
  });

  it("refuses a short or blank API key naming the variable and the key's place, never quoting a key", () => {
    const secret = "s".repeat(31);
    for (const value of [
      secret,
      `${"k".repeat(32)},`,
      `${"k".repeat(32)},${secret}`,
      `${"k".repeat(20)} ${"k".repeat(20)}`,
    ]) {
      const err = configError({ HEALTH_API_KEYS: value });
      expect(err.issues.map((i) => i.variable)).toEqual(["HEALTH_API_KEYS"]);
      expect(err.issues[0]?.message).toMatch(/has key \d of \d/);
      expect(err.message).not.toContain("kkkkkkkkkk");
      expect(err.message).not.toContain(secret);
    }
  });
});
