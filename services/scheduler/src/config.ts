import { scheduleName } from "@syncwell/contracts";
import { commonEnv, envDurationMs, envPort } from "@syncwell/runtime";
import { z } from "zod";
import { checkCronPattern, isValidTimezone, type ScheduleDefinition } from "./domain/schedule.ts";

/** The built-in schedules and the variable that changes each (defaults are in the schema below). */
export const builtInSchedules = [
  { name: "token-refresh", variable: "SCHEDULE_TOKEN_REFRESH" },
  { name: "poll", variable: "SCHEDULE_POLL" },
  { name: "health-sweep", variable: "SCHEDULE_HEALTH_SWEEP" },
  { name: "daily-user-check", variable: "SCHEDULE_DAILY_USER_CHECK" },
  { name: "weekly-digest", variable: "SCHEDULE_WEEKLY_DIGEST" },
] as const;

const OFF = new Set(["off", "false", "disabled", "none"]);

function fail(ctx: z.RefinementCtx, input: string, message: string): never {
  ctx.issues.push({ code: "custom", message, input });
  return z.NEVER as never;
}

/** A cron expression, or `off`; the output is the trimmed expression, or null for off. */
function envSchedule(defaultPattern: string) {
  return z
    .string()
    .transform((raw, ctx): string | null => {
      const value = raw.trim().replace(/\s+/g, " ");
      if (OFF.has(value.toLowerCase())) return null;
      const check = checkCronPattern(value);
      if (!check.ok) return fail(ctx, raw, `is not a valid cron expression: ${check.message}`);
      return value;
    })
    .default(defaultPattern)
    .describe(`cron expression (5 fields, or 6 with seconds) or "off"; default "${defaultPattern}"`);
}

export type ExtraSchedule = { name: string; pattern: string };

/** `name=cron;name2=cron`: schedules beyond the built-in ones. */
function envExtraSchedules() {
  return z
    .string()
    .transform((raw, ctx): ExtraSchedule[] => {
      const out: ExtraSchedule[] = [];
      for (const entry of raw.split(";")) {
        if (entry.trim() === "") continue;
        const eq = entry.indexOf("=");
        if (eq < 0) return fail(ctx, raw, `has an entry without "=": "${entry.trim()}"`);
        const name = entry.slice(0, eq).trim();
        const pattern = entry
          .slice(eq + 1)
          .trim()
          .replace(/\s+/g, " ");
        if (!scheduleName.safeParse(name).success) {
          return fail(
            ctx,
            raw,
            `has an invalid schedule name "${name}" (lowercase letters, digits and dashes)`,
          );
        }
        const builtIn = builtInSchedules.find((s) => s.name === name);
        if (builtIn) {
          return fail(ctx, raw, `has the built-in schedule "${name}" (set ${builtIn.variable} instead)`);
        }
        if (out.some((s) => s.name === name)) return fail(ctx, raw, `has the schedule "${name}" twice`);
        const check = checkCronPattern(pattern);
        if (!check.ok)
          return fail(ctx, raw, `has an invalid cron expression for "${name}": ${check.message}`);
        out.push({ name, pattern });
      }
      return out;
    })
    .default([])
    .describe('name=cron pairs separated by ";", e.g. "cleanup=0 4 * * *;report=30 6 * * 1"');
}

/** Environment of the scheduler. Shared variables come from commonEnv; its own are below. */
export const configSchema = z.object({
  ...commonEnv,
  HTTP_PORT: envPort().default(3001),
  /** Bearer secret for the scheduler's API (manual triggers, schedules, job runs). */
  SCHEDULER_API_TOKEN: z.string().min(16).describe("bearer secret of at least 16 characters for the API"),
  /** IANA time zone every schedule's expression is read in. */
  SCHEDULE_TIMEZONE: z
    .string()
    .trim()
    .refine(isValidTimezone, "is not a known IANA time zone")
    .default("UTC")
    .describe("IANA time zone, e.g. UTC or Europe/Berlin"),
  /** Refresh OAuth tokens that expire soon (token-service). */
  SCHEDULE_TOKEN_REFRESH: envSchedule("*/5 * * * *"),
  /** Pull new data from the providers (poller); a minute after token refresh, so tokens are fresh. */
  SCHEDULE_POLL: envSchedule("1-59/5 * * * *"),
  /** Recompute health scores older than their max age (health-scorer). */
  SCHEDULE_HEALTH_SWEEP: envSchedule("*/15 * * * *"),
  /** Daily checks of users and their connections. */
  SCHEDULE_DAILY_USER_CHECK: envSchedule("0 3 * * *"),
  /** Weekly digest email (notifier). */
  SCHEDULE_WEEKLY_DIGEST: envSchedule("0 8 * * 1"),
  /** More schedules, published as tick.<name>. */
  SCHEDULES_EXTRA: envExtraSchedules(),
  /**
   * A slot missed during downtime is caught up (once) only if it is at most this old. Unset: the
   * latest missed slot is always caught up (it is less than one period old by construction); 0
   * turns catch-up off.
   */
  SCHEDULE_CATCH_UP_MAX_AGE: envDurationMs().optional(),
  /**
   * At most one manual trigger per schedule in this interval, across replicas; a trigger sooner is
   * answered 429 with Retry-After. A manual run is a whole job, so a burst of clicks would run it as
   * many times. 0 turns the limit off.
   */
  SCHEDULE_MANUAL_TRIGGER_INTERVAL: envDurationMs().default(30_000),
  /** A tick fired later than this after its slot is marked catchUp. */
  SCHEDULE_LATE_AFTER: envDurationMs().default(30_000),
  /** A run of a schedule that no service consumes is ended `abandoned` after this long. */
  JOB_RUN_UNCLAIMED_AFTER: envDurationMs().default(10 * 60_000),
  /** Any job run still `running` after this long is ended `abandoned` (its tick's attempts all stopped). */
  JOB_RUN_DEADLINE: envDurationMs().default(2 * 60 * 60_000),
  /** How often the scheduler looks for job runs to abandon. */
  JOB_RUN_SWEEP_INTERVAL: envDurationMs().default(60_000),
});

export type Config = z.output<typeof configSchema>;

/** Every schedule the configuration names, built-in ones first (switched-off ones included). */
export function scheduleDefinitions(config: Config): ScheduleDefinition[] {
  const timezone = config.SCHEDULE_TIMEZONE;
  const builtIn = builtInSchedules.map(
    (s): ScheduleDefinition => ({
      name: s.name,
      pattern: config[s.variable],
      timezone,
      variable: s.variable,
    }),
  );
  const extra = config.SCHEDULES_EXTRA.map(
    (s): ScheduleDefinition => ({ name: s.name, pattern: s.pattern, timezone, variable: "SCHEDULES_EXTRA" }),
  );
  return [...builtIn, ...extra];
}
