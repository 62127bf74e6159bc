import type { FastifyInstance } from "fastify";
import { findConnection } from "../repositories/connections.repository.ts";
import { toConnectionView } from "./connection-view.ts";
import type { ConnectionRoutesDeps } from "./deps.ts";
import { idParams, notFound, parseInput } from "./http.ts";

/** GET /connections/:id — one connection, revoked ones included; never its tokens. */
export function getConnectionRoute(app: FastifyInstance, deps: ConnectionRoutesDeps): void {
  app.get("/connections/:id", async (request, reply) => {
    const { id } = parseInput(idParams, request.params, "params");
    const row = await findConnection(deps.prisma, id);
    if (!row) return notFound(reply, id);
    return reply.send(toConnectionView(row));
  });
}
