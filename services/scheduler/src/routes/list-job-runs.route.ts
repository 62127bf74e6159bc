import { scheduleName } from "@syncwell/contracts";
import { jobRunStatuses } from "@syncwell/db";
import { parseInput } from "@syncwell/runtime";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { listJobRuns } from "../repositories/job-run-reports.repository.ts";
import type { RouteDeps } from "./deps.ts";

const query = z.strictObject({
  schedule: scheduleName.optional(),
  status: z.enum(jobRunStatuses).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  /** Runs with a slot before this: pass the previous page's `nextBefore`. */
  before: z.iso.datetime({ offset: true }).optional(),
});

/** GET /job-runs?schedule=&status=&limit=&before=: runs, latest slot first. */
export function listJobRunsRoute(app: FastifyInstance, deps: RouteDeps): void {
  app.get("/job-runs", async (request) => {
    const q = parseInput(query, request.query, "query");
    const runs = await listJobRuns(deps.pool, {
      schedule: q.schedule,
      status: q.status,
      before: q.before ? new Date(q.before) : undefined,
      limit: q.limit,
    });
    const last = runs.at(-1);
    return {
      jobRuns: runs,
      nextBefore: runs.length === q.limit && last ? last.slot.toISOString() : null,
    };
  });
}
