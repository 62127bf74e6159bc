import type { FastifyInstance } from "fastify";
import { deleteDeal } from "../repositories/deals.repository.ts";
import type { HealthRoutesDeps } from "./deps.ts";
import { notFound, parseInput, userItemParams } from "./http.ts";

/** DELETE /v1/users/:userId/deals/:id — the deal, its contact links, its score and history. 204. */
export function deleteDealRoute(app: FastifyInstance, deps: HealthRoutesDeps): void {
  app.delete("/v1/users/:userId/deals/:id", async (request, reply) => {
    const { userId, id } = parseInput(userItemParams, request.params, "params");
    if (!(await deleteDeal(deps.prisma, userId, id))) return notFound(reply, "deal", id);
    request.log.info({ userId, dealId: id }, "deal deleted");
    return reply.code(204).send();
  });
}
