import { isSpanContextValid, trace } from "@opentelemetry/api";
import { inSpan } from "@syncwell/telemetry";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { publishManualTick } from "../tick-publisher.ts";
import type { RouteDeps } from "./deps.ts";

const tracer = trace.getTracer("@syncwell/scheduler");
const params = z.object({ name: z.string() });

/**
 * POST /schedules/:name/trigger: fires a schedule now (slot = now, `manual: true`), also one that
 * is switched off. 202 with the tick's event id, its job run and the trace id to look up in Jaeger
 * (null when tracing is off).
 */
export function triggerScheduleRoute(app: FastifyInstance, deps: RouteDeps): void {
  const byName = new Map(deps.schedules.map((s) => [s.name, s]));
  app.post("/schedules/:name/trigger", async (request, reply) => {
    const { name } = params.parse(request.params);
    const schedule = byName.get(name);
    if (!schedule) {
      const known = [...byName.keys()];
      return reply.code(404).send({
        error: "not_found",
        message: `unknown schedule "${name.slice(0, 64)}"; known schedules: ${known.join(", ")}`,
        schedules: known,
      });
    }
    // A child of the HTTP server span when telemetry runs (same trace id), else a root span; the
    // outbox row stores its context, so the tick and everything it causes join this trace.
    return inSpan(
      tracer,
      `trigger ${schedule.name}`,
      { attributes: { "syncwell.schedule": schedule.name, "syncwell.manual": true } },
      async (span) => {
        const tick = await publishManualTick(deps.pool, schedule.name, deps.clock());
        const { traceId } = span.spanContext();
        request.log.info(
          { schedule: schedule.name, jobRunId: tick.jobRunId, eventId: tick.eventId },
          "manual tick enqueued",
        );
        return reply.code(202).send({
          schedule: schedule.name,
          eventId: tick.eventId,
          traceId: isSpanContextValid(span.spanContext()) ? traceId : null,
          jobRunId: tick.jobRunId,
          slot: tick.slot.toISOString(),
        });
      },
    );
  });
}
