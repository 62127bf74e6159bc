import type { FastifyInstance } from "fastify";
import { findContact } from "../repositories/contacts.repository.ts";
import { toContactView } from "./contact-view.ts";
import type { HealthRoutesDeps } from "./deps.ts";
import { notFound, parseInput, userItemParams } from "./http.ts";

/** GET /v1/users/:userId/contacts/:id — one contact of the user. */
export function getContactRoute(app: FastifyInstance, deps: HealthRoutesDeps): void {
  app.get("/v1/users/:userId/contacts/:id", async (request, reply) => {
    const { userId, id } = parseInput(userItemParams, request.params, "params");
    const row = await findContact(deps.prisma, userId, id);
    if (!row) return notFound(reply, "contact", id);
    return reply.send(toContactView(row));
  });
}
