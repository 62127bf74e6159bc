import type { FastifyInstance } from "fastify";
import type { Registry } from "prom-client";

/** Prometheus scrape endpoint, text exposition format. */
export function metricsRoute(app: FastifyInstance, registry: Registry): void {
  app.get("/metrics", async (_request, reply) => {
    const body = await registry.metrics();
    return reply.type(registry.contentType).send(body);
  });
}
