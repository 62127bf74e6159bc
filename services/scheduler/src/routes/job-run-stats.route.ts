import { parseInput } from "@syncwell/runtime";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { jobRunStats } from "../repositories/job-run-reports.repository.ts";
import type { RouteDeps } from "./deps.ts";

const query = z.strictObject({ days: z.coerce.number().int().min(1).max(366).default(7) });

/** GET /job-runs/stats?days=7: per schedule, runs by outcome, success rate, p50/p95 duration. */
export function jobRunStatsRoute(app: FastifyInstance, deps: RouteDeps): void {
  app.get("/job-runs/stats", async (request) => {
    const { days } = parseInput(query, request.query, "query");
    const since = new Date(deps.clock().getTime() - days * 86_400_000);
    return { days, since: since.toISOString(), schedules: await jobRunStats(deps.pool, days) };
  });
}
