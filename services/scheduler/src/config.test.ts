import { ConfigError, formatConfigError, loadConfig } from "@syncwell/runtime";
import { describe, expect, it } from "vitest";
import { configSchema, scheduleDefinitions } from "./config.ts";

const base = {
  DATABASE_URL: "postgresql://postgres@127.0.0.1:5432/syncwell",
  SCHEDULER_API_TOKEN: "a-secret-of-at-least-16-chars",
};

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(configSchema, { ...base, ...env });
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("scheduler config", () => {
  it("has the documented defaults", () => {
    const config = loadConfig(configSchema, base);
    expect(config.HTTP_PORT).toBe(3001);
    expect(config.SCHEDULE_TIMEZONE).toBe("UTC");
    expect(scheduleDefinitions(config).map((s) => [s.name, s.pattern])).toEqual([
      ["token-refresh", "*/5 * * * *"],
      ["poll", "1-59/5 * * * *"],
      ["health-sweep", "*/15 * * * *"],
      ["daily-user-check", "0 3 * * *"],
      ["weekly-digest", "0 8 * * 1"],
    ]);
    expect(config.SCHEDULE_CATCH_UP_MAX_AGE).toBeUndefined();
    expect(config.SCHEDULE_LATE_AFTER).toBe(30_000);
  });

  it("changes, switches off and adds schedules from the environment", () => {
    const config = loadConfig(configSchema, {
      ...base,
      SCHEDULE_TOKEN_REFRESH: "*/2   * * * *",
      SCHEDULE_POLL: "off",
      SCHEDULE_TIMEZONE: "Europe/Berlin",
      SCHEDULES_EXTRA: "cleanup=0 4 * * *; report=30 6 * * 1;",
      SCHEDULE_CATCH_UP_MAX_AGE: "6h",
    });
    const defs = scheduleDefinitions(config);
    expect(defs.find((s) => s.name === "token-refresh")).toMatchObject({
      pattern: "*/2 * * * *",
      timezone: "Europe/Berlin",
      variable: "SCHEDULE_TOKEN_REFRESH",
    });
    expect(defs.find((s) => s.name === "poll")?.pattern).toBeNull();
    expect(defs.slice(-2)).toEqual([
      { name: "cleanup", pattern: "0 4 * * *", timezone: "Europe/Berlin", variable: "SCHEDULES_EXTRA" },
      { name: "report", pattern: "30 6 * * 1", timezone: "Europe/Berlin", variable: "SCHEDULES_EXTRA" },
    ]);
    expect(config.SCHEDULE_CATCH_UP_MAX_AGE).toBe(6 * 3_600_000);
  });

  it("stops on an invalid cron expression, naming the variable", () => {
    const err = configError({ SCHEDULE_POLL: "61 * * * *" });
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]?.variable).toBe("SCHEDULE_POLL");
    expect(err.message).toMatch(
      /^SCHEDULE_POLL: "61 \* \* \* \*" is not a valid cron expression: .*minute: 61/,
    );
    expect(err.message).toContain('or "off"');
    expect(formatConfigError(err)).toContain("Invalid configuration (1 problem):\n  SCHEDULE_POLL: ");
    // The runtime hides values of variables whose name contains TOKEN; the reason still shows.
    const token = configError({ SCHEDULE_TOKEN_REFRESH: "*/5 * * *" });
    expect(token.issues[0]?.variable).toBe("SCHEDULE_TOKEN_REFRESH");
    expect(token.message).toContain("is not a valid cron expression");
  });

  it("reports every bad variable at once", () => {
    const err = configError({
      SCHEDULE_WEEKLY_DIGEST: "every monday",
      SCHEDULE_TIMEZONE: "Mars/Olympus_Mons",
      SCHEDULES_EXTRA: "ok=* * * * *;broken=* * *",
    });
    expect(err.issues.map((i) => i.variable).sort()).toEqual([
      "SCHEDULES_EXTRA",
      "SCHEDULE_TIMEZONE",
      "SCHEDULE_WEEKLY_DIGEST",
    ]);
    expect(err.message).toContain('SCHEDULE_TIMEZONE: "Mars/Olympus_Mons" is not a known IANA time zone');
    expect(err.message).toContain('has an invalid cron expression for "broken"');
  });

  it("rejects bad SCHEDULES_EXTRA entries", () => {
    expect(configError({ SCHEDULES_EXTRA: "Bad_Name=* * * * *" }).message).toContain("invalid schedule name");
    expect(configError({ SCHEDULES_EXTRA: "poll=* * * * *" }).message).toContain(
      'has the built-in schedule "poll" (set SCHEDULE_POLL instead)',
    );
    expect(configError({ SCHEDULES_EXTRA: "a=* * * * *;a=0 * * * *" }).message).toContain("twice");
    expect(configError({ SCHEDULES_EXTRA: "nocron" }).message).toContain('without "="');
  });

  it("requires an API token of 16+ characters and never prints it", () => {
    const err = configError({ SCHEDULER_API_TOKEN: "short-secret" });
    expect(err.issues[0]?.variable).toBe("SCHEDULER_API_TOKEN");
    expect(err.message).not.toContain("short-secret");
    const missing = (() => {
      try {
        loadConfig(configSchema, { DATABASE_URL: base.DATABASE_URL });
      } catch (e) {
        return e as ConfigError;
      }
      return undefined;
    })();
    expect(missing?.message).toContain("SCHEDULER_API_TOKEN: required");
  });
});
