import type { FastifyInstance } from "fastify";
import { markAllRead } from "../repositories/user-notifications.repository.ts";
import { userOf } from "./access-token.ts";
import type { NotificationRoutesDeps } from "./deps.ts";

/** POST /v1/notifications/read-all — marks every unread notification of the token's user read; answers how many. */
export function markAllReadRoute(app: FastifyInstance, deps: NotificationRoutesDeps): void {
  app.post("/v1/notifications/read-all", async (request, reply) => {
    const userId = userOf(request);
    const changes = await markAllRead(deps.db, userId, new Date());
    for (const change of changes) deps.publishChange(userId, { notificationId: change.id, seq: change.seq });
    return reply.send({ marked: changes.length });
  });
}
