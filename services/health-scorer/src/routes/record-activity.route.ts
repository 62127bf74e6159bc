import type { FastifyInstance } from "fastify";
import { recordActivity } from "../repositories/activity.repository.ts";
import type { HealthRoutesDeps } from "./deps.ts";
import { parseInput, userNotFound, userParams } from "./http.ts";

/**
 * POST /v1/users/:userId/activity — the product saw the user: `users.last_active_at` becomes now.
 * The health sweep refreshes scores of users seen within HEALTH_ACTIVE_USER_WINDOW only. No body;
 * repeating it is harmless (the time only moves forward).
 */
export function recordActivityRoute(app: FastifyInstance, deps: HealthRoutesDeps): void {
  app.post("/v1/users/:userId/activity", async (request, reply) => {
    const { userId } = parseInput(userParams, request.params, "params");
    const lastActiveAt = await recordActivity(deps.prisma, userId, new Date());
    if (lastActiveAt === undefined) return userNotFound(reply, userId);
    return reply.send({ userId, lastActiveAt: lastActiveAt.toISOString() });
  });
}
