import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { SimulatorContext } from "../../context.ts";
import { parseOrReply } from "./validation.ts";

export const setLatencyBody = z.strictObject({
  /** Added to every provider request (not to the control API). */
  ms: z.number().int().nonnegative().max(600_000),
  /** Plus a uniform random 0..jitterMs per request. */
  jitterMs: z.number().int().nonnegative().max(600_000).default(0),
});

export type SetLatencyBody = z.input<typeof setLatencyBody>;

/** `PUT /_control/latency` — change the global latency (initially SIM_LATENCY_MS / SIM_LATENCY_JITTER_MS). */
export function setLatencyRoute(app: FastifyInstance, { state }: SimulatorContext): void {
  app.put("/_control/latency", async (request, reply) => {
    const body = parseOrReply(setLatencyBody, request.body, reply);
    if (body === null) return reply;
    return state.setLatency(body);
  });
}
