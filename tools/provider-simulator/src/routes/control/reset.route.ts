import type { FastifyInstance } from "fastify";
import type { SimulatorContext } from "../../context.ts";

/** `POST /_control/reset` — forget grants, tokens, faults, rate limits and the log; restore defaults. */
export function resetRoute(app: FastifyInstance, { state }: SimulatorContext): void {
  app.post("/_control/reset", async (_request, reply) => {
    state.reset();
    return reply.code(204).send();
  });
}
