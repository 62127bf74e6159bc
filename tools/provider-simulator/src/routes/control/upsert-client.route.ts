import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { SimulatorContext } from "../../context.ts";
import { providerIds } from "../../providers.ts";
import { parseOrReply } from "./validation.ts";

export const upsertClientBody = z.strictObject({
  provider: z.enum(providerIds),
  clientId: z.string().min(1),
  clientSecret: z.string().min(1),
  /** false = registered but not allowed to refresh: token requests get 400 unauthorized_client. */
  allowed: z.boolean().optional(),
  /** Remove the provider's other clients first (e.g. the default sim-<provider>-client pair). */
  replace: z.boolean().optional(),
});

export type UpsertClientBody = z.input<typeof upsertClientBody>;

/** `PUT /_control/clients` — register or change an OAuth client. The secret is never echoed. */
export function upsertClientRoute(app: FastifyInstance, { state }: SimulatorContext): void {
  app.put("/_control/clients", async (request, reply) => {
    const body = parseOrReply(upsertClientBody, request.body, reply);
    if (body === null) return reply;
    const { clientSecret: _secret, ...client } = state.upsertClient(body);
    return client;
  });
}
