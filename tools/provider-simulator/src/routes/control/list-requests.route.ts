import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { SimulatorContext } from "../../context.ts";
import { parseOrReply } from "./validation.ts";

export const listRequestsQuery = z.strictObject({
  /** `token`, `data` or `email`. */
  endpoint: z.string().min(1).optional(),
  provider: z.string().min(1).optional(),
  /** A resource (`gmail.messages`) or a platform (`gmail`). */
  resource: z.string().min(1).optional(),
  connectionKey: z.string().min(1).optional(),
  grantId: z.string().min(1).optional(),
  since: z.coerce.number().int().nonnegative().optional(),
  limit: z.coerce.number().int().positive().optional(),
});

/** What the client sends (the schema coerces query strings back to numbers). */
export type ListRequestsQuery = {
  endpoint?: "token" | "data" | "email";
  provider?: string;
  resource?: string;
  connectionKey?: string;
  grantId?: string;
  since?: number;
  limit?: number;
};

/**
 * `GET /_control/requests` — the bounded log of provider requests, oldest first. Each entry says
 * whether a spent refresh token was presented (`reusedRefreshToken`), so tests can prove a client
 * never replays one.
 */
export function listRequestsRoute(app: FastifyInstance, { state }: SimulatorContext): void {
  app.get("/_control/requests", async (request, reply) => {
    const query = parseOrReply(listRequestsQuery, request.query, reply, "query");
    if (query === null) return reply;
    return { requests: state.requests(query) };
  });
}
