import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { userExists } from "../repositories/contacts.repository.ts";
import { listDeals } from "../repositories/deals.repository.ts";
import { toDealView } from "./deal-fields.ts";
import type { HealthRoutesDeps } from "./deps.ts";
import { cursorField, limitField, parseRequest, toPage, userNotFound, userParams } from "./http.ts";

/** The cursor is the last id of the previous page. */
export const listDealsQuery = z.strictObject({
  limit: limitField,
  cursor: cursorField((key) => z.uuid().safeParse(key).success).optional(),
});

/** GET /v1/users/:userId/deals — the user's deals in creation (id) order, keyset-paginated. */
export function listDealsRoute(app: FastifyInstance, deps: HealthRoutesDeps): void {
  app.get("/v1/users/:userId/deals", async (request, reply) => {
    const {
      params: { userId },
      query,
    } = parseRequest({
      params: { schema: userParams, value: request.params },
      query: { schema: listDealsQuery, value: request.query },
    });
    if (!(await userExists(deps.prisma, userId))) return userNotFound(reply, userId);
    const rows = await listDeals(deps.prisma, userId, { limit: query.limit + 1, afterId: query.cursor });
    return reply.send(toPage(rows, query.limit, toDealView, (row) => row.id));
  });
}
