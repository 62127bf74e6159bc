import type { FastifyInstance } from "fastify";
import type { SimulatorContext } from "../../context.ts";

/**
 * `GET /_control/stats` — token-endpoint counters (requests, rotations, spent refresh tokens
 * presented, grants revoked for reuse) since start or the last reset. Counters, not a scan of the
 * request log: exact however many requests the bounded log has dropped, and O(1) to read.
 */
export function statsRoute(app: FastifyInstance, { state }: SimulatorContext): void {
  app.get("/_control/stats", async () => state.stats());
}
