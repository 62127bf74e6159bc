import type { FastifyInstance } from "fastify";
import { nextSlotAfter } from "../domain/schedule.ts";
import { latestRuns } from "../repositories/job-run-reports.repository.ts";
import type { RouteDeps } from "./deps.ts";

/** GET /schedules: every configured schedule with its expression, time zone, next and last run. */
export function listSchedulesRoute(app: FastifyInstance, deps: RouteDeps): void {
  app.get("/schedules", async () => {
    const now = deps.clock();
    const last = await latestRuns(
      deps.pool,
      deps.schedules.map((s) => s.name),
    );
    return {
      schedules: deps.schedules.map((s) => {
        const run = last.get(s.name);
        return {
          name: s.name,
          cron: s.pattern,
          timezone: s.timezone,
          enabled: s.cron !== null,
          variable: s.variable,
          subject: `tick.${s.name}`,
          nextRun: nextSlotAfter(s, now)?.toISOString() ?? null,
          lastRun: run
            ? {
                jobRunId: run.id,
                slot: run.slot.toISOString(),
                status: run.status,
                catchUp: run.catchUp,
                manual: run.manual,
                startedAt: run.startedAt.toISOString(),
                finishedAt: run.finishedAt?.toISOString() ?? null,
                durationMs: run.durationMs,
              }
            : null,
        };
      }),
    };
  });
}
