import { isSpanContextValid, trace } from "@opentelemetry/api";
import { parseInput } from "@syncwell/runtime";
import { inSpan } from "@syncwell/telemetry";
import type { FastifyInstance, FastifyReply } from "fastify";
import { z } from "zod";
import { publishManualTick, type ThrottledTrigger } from "../engine/tick-publisher.ts";
import type { RouteDeps } from "./deps.ts";

const tracer = trace.getTracer("@syncwell/scheduler");
// Bounded here rather than by the router, so that a long name is a 400 after authentication.
const params = z.object({ name: z.string().min(1).max(200) });

function throttled(reply: FastifyReply, schedule: string, result: ThrottledTrigger, now: Date): FastifyReply {
  const retryAfterSeconds = Math.max(1, Math.ceil((result.retryAt.getTime() - now.getTime()) / 1000));
  return reply
    .code(429)
    .header("retry-after", String(retryAfterSeconds))
    .send({
      error: "too_many_triggers",
      message: `schedule "${schedule}" was triggered by hand at ${result.lastManualSlot.toISOString()}; the next manual trigger is accepted from ${result.retryAt.toISOString()}`,
      retryAfterSeconds,
    });
}

/**
 * POST /schedules/:name/trigger: fires a schedule now (slot = now, `manual: true`), also one that
 * is switched off. 202 with the tick's event id, its job run and the trace id to look up in Jaeger
 * (null when tracing is off); 429 with Retry-After within SCHEDULE_MANUAL_TRIGGER_INTERVAL of the
 * schedule's previous manual run.
 */
export function triggerScheduleRoute(app: FastifyInstance, deps: RouteDeps): void {
  const byName = new Map(deps.schedules.map((s) => [s.name, s]));
  app.post("/schedules/:name/trigger", async (request, reply) => {
    const { name } = parseInput(params, request.params, "params");
    const schedule = byName.get(name);
    if (!schedule) {
      const known = [...byName.keys()];
      return reply.code(404).send({
        error: "not_found",
        message: `no schedule by that name; known schedules: ${known.join(", ")}`,
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
        const now = deps.clock();
        const tick = await publishManualTick(deps.pool, schedule.name, now, {
          minIntervalMs: deps.manualTriggerIntervalMs,
        });
        if (!tick.published) return throttled(reply, schedule.name, tick, now);
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
