import { bearerAuth } from "@syncwell/runtime";
import type { FastifyInstance } from "fastify";
import { createConnectionRoute } from "./create-connection.route.ts";
import type { ConnectionRoutesDeps } from "./deps.ts";
import { getConnectionRoute } from "./get-connection.route.ts";
import { listConnectionsRoute } from "./list-connections.route.ts";
import { revokeConnectionRoute } from "./revoke-connection.route.ts";
import { updateConnectionRoute } from "./update-connection.route.ts";

export type { ConnectionView } from "./connection-view.ts";
export type { ConnectionRoutesDeps } from "./deps.ts";

/**
 * The connections API, behind the bearer token. Registered in a child scope so the hook covers
 * these routes only: probes and metrics stay open to the kubelet and the scraper.
 */
export async function registerConnectionRoutes(
  app: FastifyInstance,
  deps: ConnectionRoutesDeps,
): Promise<void> {
  await app.register(async (scope) => {
    scope.addHook("onRequest", bearerAuth(deps.apiToken, { realm: "token-service" }));
    createConnectionRoute(scope, deps);
    getConnectionRoute(scope, deps);
    listConnectionsRoute(scope, deps);
    updateConnectionRoute(scope, deps);
    revokeConnectionRoute(scope, deps);
  });
}
