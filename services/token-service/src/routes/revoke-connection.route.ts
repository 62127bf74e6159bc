import type { FastifyInstance } from "fastify";
import { findConnection, revokeConnection } from "../repositories/connections.repository.ts";
import { toConnectionView } from "./connection-view.ts";
import type { ConnectionRoutesDeps } from "./deps.ts";
import { idParams, notFound, parseInput } from "./http.ts";

/**
 * DELETE /connections/:id — revokes: status `revoked`, both tokens wiped, `revoked_at` set. The row
 * stays (history, and the poller's and scorer's rows that point at it). Repeating it changes
 * nothing and answers the same. No event: the catalog has no type for a revocation yet; consumers
 * that load the connection see its status.
 */
export function revokeConnectionRoute(app: FastifyInstance, deps: ConnectionRoutesDeps): void {
  app.delete("/connections/:id", async (request, reply) => {
    const { id } = parseInput(idParams, request.params, "params");
    const now = new Date();
    const result = await deps.prisma.$transaction(async (tx) => {
      // The row lock waits for a refresh transaction holding the row, so its write cannot land after ours.
      const current = await findConnection(tx, id, { forUpdate: true });
      if (!current) return undefined;
      return { row: await revokeConnection(tx, current, now), wasRevoked: current.status === "revoked" };
    });
    if (!result) return notFound(reply, id);
    if (!result.wasRevoked) {
      request.log.info(
        { connectionId: id, userId: result.row.userId, provider: result.row.provider },
        "connection revoked",
      );
    }
    return reply.send(toConnectionView(result.row));
  });
}
