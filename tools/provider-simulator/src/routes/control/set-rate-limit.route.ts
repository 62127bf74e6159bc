import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { SimulatorContext } from "../../context.ts";
import { type ProviderId, providerIds } from "../../providers.ts";
import type { RateLimitConfig } from "../../rate-limit.ts";
import { parseOrReply } from "./validation.ts";

export const setRateLimitBody = z.strictObject({
  provider: z.enum(providerIds),
  /**
   * `token` (default): the token endpoint, per client. `data`: all of the provider's data
   * endpoints together (Gmail, Calendar and YouTube count as Google), answered in the platform's
   * own 429 shape with Retry-After.
   */
  scope: z.enum(["token", "data"]).default("token"),
  /** Sustained requests per second; null turns the limit off. */
  requestsPerSecond: z.number().positive().nullable(),
  /** Bucket size; defaults to requestsPerSecond (at least 1). */
  burst: z.number().int().positive().optional(),
});

export type SetRateLimitBody = z.input<typeof setRateLimitBody>;

export type SetRateLimitResult = {
  rateLimits: Partial<Record<ProviderId, RateLimitConfig>>;
  dataRateLimits: Partial<Record<ProviderId, RateLimitConfig>>;
};

/** `PUT /_control/rate-limits` — per-provider token buckets (token: per client; data: per provider); excess requests get 429 + Retry-After. */
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
    state.setRateLimit(body.provider, config, body.scope);
    const answer: SetRateLimitResult = {
      rateLimits: state.getRateLimits("token"),
      dataRateLimits: state.getRateLimits("data"),
    };
    return answer;
  });
}
