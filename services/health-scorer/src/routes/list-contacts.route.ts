import { normalizeAddress } from "@syncwell/contracts";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { listContacts, userExists } from "../repositories/contacts.repository.ts";
import { toContactView } from "./contact-view.ts";
import type { HealthRoutesDeps } from "./deps.ts";
import { cursorField, limitField, parseRequest, toPage, userNotFound, userParams } from "./http.ts";

/** The cursor is the last email of the previous page: a stored email is its own normal form. */
export const listContactsQuery = z.strictObject({
  limit: limitField,
  cursor: cursorField((key) => normalizeAddress(key) === key).optional(),
});

/** GET /v1/users/:userId/contacts — the user's contacts in email order, keyset-paginated. */
export function listContactsRoute(app: FastifyInstance, deps: HealthRoutesDeps): void {
  app.get("/v1/users/:userId/contacts", async (request, reply) => {
    const {
      params: { userId },
      query,
    } = parseRequest({
      params: { schema: userParams, value: request.params },
      query: { schema: listContactsQuery, value: request.query },
    });
    if (!(await userExists(deps.prisma, userId))) return userNotFound(reply, userId);
    const rows = await listContacts(deps.prisma, userId, {
      limit: query.limit + 1,
      afterEmail: query.cursor,
    });
    return reply.send(toPage(rows, query.limit, toContactView, (row) => row.email));
  });
}
