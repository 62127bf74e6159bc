import type { FastifyInstance } from "fastify";
import { deleteContact } from "../repositories/contacts.repository.ts";
import type { HealthRoutesDeps } from "./deps.ts";
import { notFound, parseInput, userItemParams } from "./http.ts";

/**
 * DELETE /v1/users/:userId/contacts/:id — the contact, its score and history, its deal links and
 * its communication events go with it. 204; an unknown (or already deleted) id is a 404.
 */
export function deleteContactRoute(app: FastifyInstance, deps: HealthRoutesDeps): void {
  app.delete("/v1/users/:userId/contacts/:id", async (request, reply) => {
    const { userId, id } = parseInput(userItemParams, request.params, "params");
    if (!(await deleteContact(deps.prisma, userId, id))) return notFound(reply, "contact", id);
    request.log.info({ userId, contactId: id }, "contact deleted");
    return reply.code(204).send();
  });
}
