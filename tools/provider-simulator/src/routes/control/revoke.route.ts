import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { SimulatorContext } from "../../context.ts";
import { providerIds } from "../../providers.ts";
import { parseOrReply } from "./validation.ts";

export const revokeBody = z
  .strictObject({
    /** Any refresh token of the family, current or already rotated away. */
    refreshToken: z.string().min(1).optional(),
    connectionKey: z.string().min(1).optional(),
    provider: z.enum(providerIds).optional(),
  })
  .refine((body) => body.refreshToken !== undefined || body.connectionKey !== undefined, {
    message: "refreshToken or connectionKey is required",
    path: ["refreshToken"],
  });

export type RevokeBody = z.input<typeof revokeBody>;

/** `POST /_control/revoke` — the user revoked access at the provider: refreshes now get invalid_grant. */
export function revokeRoute(app: FastifyInstance, { state }: SimulatorContext): void {
  app.post("/_control/revoke", async (request, reply) => {
    const body = parseOrReply(revokeBody, request.body, reply);
    if (body === null) return reply;
    return { revoked: state.revoke(body) };
  });
}
