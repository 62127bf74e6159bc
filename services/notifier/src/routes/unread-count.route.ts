import type { FastifyInstance } from "fastify";
import { countUnread } from "../repositories/user-notifications.repository.ts";
import { userOf } from "./access-token.ts";
import type { NotificationRoutesDeps } from "./deps.ts";

/** GET /v1/notifications/unread-count — how many of the token's user's notifications are unread. */
export function unreadCountRoute(app: FastifyInstance, deps: NotificationRoutesDeps): void {
  app.get("/v1/notifications/unread-count", async (request, reply) => {
    return reply.send({ unread: await countUnread(deps.db, userOf(request)) });
  });
}
