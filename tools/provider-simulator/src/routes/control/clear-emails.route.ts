import type { FastifyInstance } from "fastify";
import type { SimulatorContext } from "../../context.ts";

/** `DELETE /_control/emails` — forget the emails, idempotency keys, counters and the email rate limit. */
export function clearEmailsRoute(app: FastifyInstance, { state }: SimulatorContext): void {
  app.delete("/_control/emails", async (_request, reply) => {
    state.emails.clear();
    return reply.code(204).send();
  });
}
