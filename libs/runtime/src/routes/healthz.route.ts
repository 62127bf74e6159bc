import type { FastifyInstance } from "fastify";

const schema = {
  response: {
    200: {
      type: "object",
      properties: { status: { type: "string", const: "ok" } },
      required: ["status"],
    },
  },
} as const;

/** Liveness: answers while the event loop turns. Deliberately checks nothing else. */
export function healthzRoute(app: FastifyInstance): void {
  app.get("/healthz", { schema }, async () => ({ status: "ok" as const }));
}
