import type { FastifyInstance } from "fastify";
import { accessTokenVerifier, requireUser } from "./access-token.ts";
import type { NotificationRoutesDeps } from "./deps.ts";
import { listNotificationsRoute } from "./list-notifications.route.ts";
import { markAllReadRoute } from "./mark-all-read.route.ts";
import { markReadRoute } from "./mark-read.route.ts";
import { streamRoute } from "./stream.route.ts";
import { unreadCountRoute } from "./unread-count.route.ts";

export type { NotificationRoutesDeps } from "./deps.ts";

/**
 * The in-app API: each route acts for the user named by the bearer token's `sub`, on that user's
 * notifications only. Registered in a child scope so the token check covers these routes only
 * (probes and metrics stay open). Open live streams end when the server closes.
 */
export async function registerNotificationRoutes(
  app: FastifyInstance,
  deps: NotificationRoutesDeps,
): Promise<void> {
  const verify = await accessTokenVerifier(deps.access);
  app.addHook("preClose", async () => deps.streams.endAll());
  await app.register(async (scope) => {
    scope.addHook("onRequest", requireUser(verify));
    listNotificationsRoute(scope, deps);
    unreadCountRoute(scope, deps);
    markReadRoute(scope, deps);
    markAllReadRoute(scope, deps);
    streamRoute(scope, deps);
  });
}
