import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { SimulatorContext } from "../../context.ts";
import { providerIds } from "../../providers.ts";
import { parseOrReply } from "./validation.ts";

export const clearFaultsQuery = z.strictObject({
  id: z.string().min(1).optional(),
  provider: z.enum(providerIds).optional(),
  connectionKey: z.string().min(1).optional(),
});

export type ClearFaultsQuery = z.input<typeof clearFaultsQuery>;

/** `DELETE /_control/faults` — remove all scripted faults, or those matching the query. */
export function clearFaultsRoute(app: FastifyInstance, { state }: SimulatorContext): void {
  app.delete("/_control/faults", async (request, reply) => {
    const query = parseOrReply(clearFaultsQuery, request.query, reply, "query");
    if (query === null) return reply;
    return { cleared: state.clearFaults(query) };
  });
}
