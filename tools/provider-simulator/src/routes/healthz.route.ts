import type { FastifyInstance } from "fastify";

/** `GET /healthz` — liveness for docker-compose / k8s probes. */
export function healthzRoute(app: FastifyInstance): void {
  app.get("/healthz", async () => ({ status: "ok" }));
}
