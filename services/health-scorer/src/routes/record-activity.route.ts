import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { recordActivity } from "../repositories/activity.repository.ts";
import type { HealthRoutesDeps } from "./deps.ts";
import { parseRequest, userNotFound, userParams } from "./http.ts";

/** Nothing to say beyond the path: no query; no body, or an empty JSON object. */
const nothing = z.strictObject({});

/**
 * POST /v1/users/:userId/activity — the product saw the user: `users.last_active_at` becomes now.
 * The health sweep refreshes scores of users seen within HEALTH_ACTIVE_USER_WINDOW only. No body
 * (or `{}`) and no query: anything else is a 400 naming it. Repeating it is harmless (the time
 * only moves forward).
 */
export function recordActivityRoute(app: FastifyInstance, deps: HealthRoutesDeps): void {
  app.post("/v1/users/:userId/activity", async (request, reply) => {
    const { params } = parseRequest({
      params: { schema: userParams, value: request.params },
      query: { schema: nothing, value: request.query },
      body: { schema: nothing.optional(), value: request.body },
    });
    const { userId } = params;
    const lastActiveAt = await recordActivity(deps.prisma, userId, new Date());
    if (lastActiveAt === undefined) return userNotFound(reply, userId);
    return reply.send({ userId, lastActiveAt: lastActiveAt.toISOString() });
  });
}
