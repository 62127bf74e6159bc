import { Cron } from "croner";

/**
 * Schedules and their slots. A slot is an instant the cron expression names, in the schedule's
 * time zone (croner handles DST: a fixed-time job in a skipped hour runs once after the gap, and
 * once on a repeated hour). Slots are whole seconds; every function here takes `now` explicitly so
 * slots come from the cron expression, never from when a timer happened to fire.
 */

export type ScheduleDefinition = {
  name: string;
  /** Cron expression (5 fields, or 6 with seconds first), or null when switched off. */
  pattern: string | null;
  /** IANA time zone the expression is read in. */
  timezone: string;
  /** Environment variable that sets it (for messages and GET /schedules). */
  variable: string;
};

export type Schedule = ScheduleDefinition & {
  /** Paused croner instance: used to compute slots only, it never runs anything itself. */
  cron: Cron | null;
};

export type PatternCheck = { ok: true } | { ok: false; message: string };

/** Whether croner accepts the expression; the message is croner's reason. */
export function checkCronPattern(pattern: string): PatternCheck {
  try {
    new Cron(pattern, { paused: true });
    return { ok: true };
  } catch (err) {
    const message = err instanceof Error ? err.message.replace(/^CronPattern:\s*/, "") : String(err);
    return { ok: false, message };
  }
}

export function isValidTimezone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

export function compileSchedule(def: ScheduleDefinition): Schedule {
  const cron = def.pattern === null ? null : new Cron(def.pattern, { paused: true, timezone: def.timezone });
  return { ...def, cron };
}

/** The latest slot at or before `now` (a slot exactly at `now` counts), or null if none exists. */
export function latestSlotAtOrBefore(schedule: Schedule, now: Date): Date | null {
  if (!schedule.cron) return null;
  // previousRuns is strictly before its reference; 1 ms later makes a slot at `now` itself count.
  return schedule.cron.previousRuns(1, new Date(now.getTime() + 1))[0] ?? null;
}

/** The first slot strictly after `at`, or null if the expression has no future slot. */
export function nextSlotAfter(schedule: Schedule, at: Date): Date | null {
  if (!schedule.cron) return null;
  return schedule.cron.nextRun(at);
}
