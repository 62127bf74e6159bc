import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { SimulatorContext } from "../../context.ts";
import { providerIds } from "../../providers.ts";
import { parseOrReply } from "./validation.ts";

export const createGrantBody = z.strictObject({
  provider: z.enum(providerIds),
  /** Generated (provider-looking prefix + 192 random bits) when absent. */
  refreshToken: z.string().min(1).max(4096).optional(),
  /** Lets tests script faults and read the log per connection; generated when absent. */
  connectionKey: z.string().min(1).max(512).optional(),
  /** Bind the grant to one client; absent = any registered client of the provider. */
  clientId: z.string().min(1).optional(),
  /** Defaults to the provider's usual scopes. */
  scopes: z.array(z.string().min(1)).optional(),
  /** Defaults to the provider's behaviour (see providers.ts). */
  rotate: z.boolean().optional(),
  /** Access-token lifetime in seconds; defaults to the provider's. */
  expiresIn: z.number().int().positive().optional(),
  /**
   * Generate the connection's data (every resource its provider's platforms serve) now instead of
   * at its first data request: a benchmark keeps that work out of what it times. The data is the
   * same either way.
   */
  generateData: z.boolean().optional(),
});

export type CreateGrantBody = z.input<typeof createGrantBody>;

/** `POST /_control/grants` — a user's grant, as if the authorization-code flow had just finished. */
export function createGrantRoute(app: FastifyInstance, { state }: SimulatorContext): void {
  app.post("/_control/grants", async (request, reply) => {
    const body = parseOrReply(createGrantBody, request.body, reply);
    if (body === null) return reply;
    const { generateData, ...grant } = body;
    const created = state.createGrant(grant);
    if (!created.ok) return reply.code(409).send({ error: "conflict", message: created.error });
    if (generateData) state.data.generateAll(created.grant.provider, created.grant.connectionKey);
    return reply.code(201).send(created.grant);
  });
}
