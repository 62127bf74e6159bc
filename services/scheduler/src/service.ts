import type { ServiceDefinition } from "@syncwell/runtime";
import { type Config, configSchema, scheduleDefinitions } from "./config.ts";
import { compileSchedule, type Schedule } from "./domain/schedule.ts";
import { startJobRunSweeper } from "./job-run-sweeper.ts";
import { registerRoutes } from "./routes/index.ts";
import { startScheduleRunner } from "./schedule-runner.ts";

const compiled = new WeakMap<Config, Schedule[]>();

/** The schedules of one configuration, compiled once (routes and timers share them). */
function schedulesOf(config: Config): Schedule[] {
  let schedules = compiled.get(config);
  if (!schedules) {
    schedules = scheduleDefinitions(config).map(compileSchedule);
    compiled.set(config, schedules);
  }
  return schedules;
}

/**
 * The scheduler: the only clock. Publishes tick.<schedule> for each cron slot through the outbox,
 * once per slot however many replicas run; serves manual triggers and job-run reports.
 * main.ts runs it; tests run it in-process with their own env.
 */
export const schedulerService = {
  name: "scheduler",
  configSchema,
  routes: (app, ctx) =>
    registerRoutes(app, {
      pool: ctx.pool,
      schedules: schedulesOf(ctx.config),
      apiToken: ctx.config.SCHEDULER_API_TOKEN,
      clock: () => new Date(),
      manualTriggerIntervalMs: ctx.config.SCHEDULE_MANUAL_TRIGGER_INTERVAL,
    }),
  start: async (ctx) => {
    const runner = await startScheduleRunner({
      schedules: schedulesOf(ctx.config),
      pool: ctx.pool,
      logger: ctx.logger,
      lateAfterMs: ctx.config.SCHEDULE_LATE_AFTER,
      maxCatchUpAgeMs: ctx.config.SCHEDULE_CATCH_UP_MAX_AGE,
    });
    const sweeper = startJobRunSweeper({
      pool: ctx.pool,
      jsm: ctx.bus.jsm,
      naming: ctx.bus.naming,
      logger: ctx.logger,
      schedules: schedulesOf(ctx.config).map((s) => s.name),
      unclaimedAfterMs: ctx.config.JOB_RUN_UNCLAIMED_AFTER,
      deadlineMs: ctx.config.JOB_RUN_DEADLINE,
      intervalMs: ctx.config.JOB_RUN_SWEEP_INTERVAL,
    });
    return async () => {
      sweeper.stop();
      await runner.stop();
    };
  },
} satisfies ServiceDefinition<typeof configSchema>;
