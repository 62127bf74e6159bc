import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { SimulatorContext } from "../../context.ts";
import type { RateLimitConfig } from "../../rate-limit.ts";
import { parseOrReply } from "./validation.ts";

export const setEmailRateLimitBody = z.strictObject({
  /** Sustained requests per second for the whole team (Resend's default is 2); null turns it off. */
  requestsPerSecond: z.number().positive().nullable(),
  /** Bucket size; defaults to requestsPerSecond (at least 1). */
  burst: z.number().int().positive().optional(),
});

export type SetEmailRateLimitBody = z.input<typeof setEmailRateLimitBody>;

export type SetEmailRateLimitResult = { rateLimit: RateLimitConfig | null };

/**
 * `PUT /_control/emails/rate-limit` — Resend's team-wide limit on `POST /emails` (off until set):
 * excess requests get 429 `rate_limit_exceeded` with `Retry-After` and the `ratelimit-*` headers.
 */
export function setEmailRateLimitRoute(app: FastifyInstance, { state }: SimulatorContext): void {
  app.put("/_control/emails/rate-limit", async (request, reply) => {
    const body = parseOrReply(setEmailRateLimitBody, request.body, reply);
    if (body === null) return reply;
    state.emails.setRateLimit(
      body.requestsPerSecond === null
        ? null
        : {
            requestsPerSecond: body.requestsPerSecond,
            burst: body.burst ?? Math.max(1, Math.floor(body.requestsPerSecond)),
          },
    );
    const result: SetEmailRateLimitResult = { rateLimit: state.emails.rateLimit };
    return result;
  });
}
