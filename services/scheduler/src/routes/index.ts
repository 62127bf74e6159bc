import { bearerAuth } from "@syncwell/runtime";
import type { FastifyInstance } from "fastify";
import type { RouteDeps } from "./deps.ts";
import { jobRunStatsRoute } from "./job-run-stats.route.ts";
import { listJobRunsRoute } from "./list-job-runs.route.ts";
import { listSchedulesRoute } from "./list-schedules.route.ts";
import { triggerScheduleRoute } from "./trigger-schedule.route.ts";

export type { RouteDeps } from "./deps.ts";

/**
 * The scheduler's API, all behind the bearer secret (probes and /metrics stay open: they are
 * registered by the runtime outside this encapsulated plugin).
 */
export async function registerRoutes(
  app: FastifyInstance,
  deps: RouteDeps & { apiToken: string },
): Promise<void> {
  await app.register(async (api) => {
    api.addHook("onRequest", bearerAuth(deps.apiToken, { realm: "syncwell-scheduler" }));
    listSchedulesRoute(api, deps);
    triggerScheduleRoute(api, deps);
    listJobRunsRoute(api, deps);
    jobRunStatsRoute(api, deps);
  });
}
