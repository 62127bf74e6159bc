import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { SimulatorContext } from "../../context.ts";
import { providerIds } from "../../providers.ts";
import { parseOrReply } from "./validation.ts";

export const listGrantsQuery = z.strictObject({
  provider: z.enum(providerIds).optional(),
  connectionKey: z.string().min(1).optional(),
});

/** `GET /_control/grants` — current state of grants (including the current refresh token). */
export function listGrantsRoute(app: FastifyInstance, { state }: SimulatorContext): void {
  app.get("/_control/grants", async (request, reply) => {
    const query = parseOrReply(listGrantsQuery, request.query, reply, "query");
    if (query === null) return reply;
    return { grants: state.listGrants(query) };
  });
}
