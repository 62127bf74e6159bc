import type { FastifyInstance } from "fastify";
import { deleteContact, findContact } from "../repositories/contacts.repository.ts";
import { touchOpenDealsOfContacts } from "../repositories/deals.repository.ts";
import { type HealthRoutesDeps, rescoreChanged } from "./deps.ts";
import { notFound, parseInput, userItemParams } from "./http.ts";

/**
 * DELETE /v1/users/:userId/contacts/:id — the contact, its score and history, its deal links and
 * its communication events go with it, and the open deals it was linked to are rescored (their
 * activity lost it). 204; an unknown (or already deleted) id is a 404.
 */
export function deleteContactRoute(app: FastifyInstance, deps: HealthRoutesDeps): void {
  app.delete("/v1/users/:userId/contacts/:id", async (request, reply) => {
    const { userId, id } = parseInput(userItemParams, request.params, "params");
    const deals = await deps.prisma.$transaction(async (tx) => {
      // The contact is this user's before its deals are touched.
      if (!(await findContact(tx, userId, id))) return undefined;
      const linked = await touchOpenDealsOfContacts(tx, [id]);
      return (await deleteContact(tx, userId, id)) ? linked : undefined;
    });
    if (deals === undefined) return notFound(reply, "contact", id);
    request.log.info({ userId, contactId: id, deals: deals.length }, "contact deleted");
    await rescoreChanged(
      deps,
      request,
      deals.map((dealId) => ({ subjectType: "deal", subjectId: dealId })),
    );
    return reply.code(204).send();
  });
}
