import { defineService } from "@syncwell/service";
import { configSchema, scheduleDefinitions } from "./config.ts";
import { compileSchedule } from "./domain/schedule.ts";
import { startJobRunSweeper } from "./engine/job-run-sweeper.ts";
import { startScheduleRunner } from "./engine/schedule-runner.ts";
import { registerRoutes } from "./routes/index.ts";

/**
 * The scheduler: the only clock. Publishes tick.<schedule> for each cron slot through the outbox,
 * once per slot however many replicas run; serves manual triggers and job-run reports.
 * main.ts runs it; tests run it in-process with their own env.
 */
export const schedulerService = defineService({
  name: "scheduler",
  configSchema,
  setup: async (ctx) => {
    const schedules = scheduleDefinitions(ctx.config).map(compileSchedule);
    const runner = await startScheduleRunner({
      schedules,
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
      schedules: schedules.map((s) => s.name),
      unclaimedAfterMs: ctx.config.JOB_RUN_UNCLAIMED_AFTER,
      deadlineMs: ctx.config.JOB_RUN_DEADLINE,
      intervalMs: ctx.config.JOB_RUN_SWEEP_INTERVAL,
    });
    return {
      routes: (app) =>
        registerRoutes(app, {
          pool: ctx.pool,
          schedules,
          apiToken: ctx.config.SCHEDULER_API_TOKEN,
          clock: () => new Date(),
          manualTriggerIntervalMs: ctx.config.SCHEDULE_MANUAL_TRIGGER_INTERVAL,
        }),
      stop: async () => {
        sweeper.stop();
        await runner.stop();
      },
    };
  },
});
