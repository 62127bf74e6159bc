import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { SimulatorContext } from "../../context.ts";
import { providerIds } from "../../providers.ts";
import { parseOrReply } from "./validation.ts";

export const setRateLimitBody = z.strictObject({
  provider: z.enum(providerIds),
  /** Sustained token requests per second per client; null turns the limit off. */
  requestsPerSecond: z.number().positive().nullable(),
  /** Bucket size; defaults to requestsPerSecond (at least 1). */
  burst: z.number().int().positive().optional(),
});

export type SetRateLimitBody = z.input<typeof setRateLimitBody>;

/** `PUT /_control/rate-limits` — per-provider, per-client token bucket; excess requests get 429 + Retry-After. */
export function setRateLimitRoute(app: FastifyInstance, { state }: SimulatorContext): void {
  app.put("/_control/rate-limits", async (request, reply) => {
    const body = parseOrReply(setRateLimitBody, request.body, reply);
    if (body === null) return reply;
    const config =
      body.requestsPerSecond === null
        ? null
        : {
            requestsPerSecond: body.requestsPerSecond,
            burst: body.burst ?? Math.max(1, Math.floor(body.requestsPerSecond)),
          };
    state.setRateLimit(body.provider, config);
    return { rateLimits: state.getRateLimits() };
  });
}
