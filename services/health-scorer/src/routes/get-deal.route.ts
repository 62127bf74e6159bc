import type { FastifyInstance } from "fastify";
import { findDeal } from "../repositories/deals.repository.ts";
import { toDealView } from "./deal-fields.ts";
import type { HealthRoutesDeps } from "./deps.ts";
import { notFound, parseInput, userItemParams } from "./http.ts";

/** GET /v1/users/:userId/deals/:id — one deal of the user with its contacts' ids. */
export function getDealRoute(app: FastifyInstance, deps: HealthRoutesDeps): void {
  app.get("/v1/users/:userId/deals/:id", async (request, reply) => {
    const { userId, id } = parseInput(userItemParams, request.params, "params");
    const row = await findDeal(deps.prisma, userId, id);
    if (!row) return notFound(reply, "deal", id);
    return reply.send(toDealView(row));
  });
}
