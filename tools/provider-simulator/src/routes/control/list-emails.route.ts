import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { SimulatorContext } from "../../context.ts";
import type { EmailCounters, ReceivedEmail } from "../../emails.ts";
import { parseOrReply } from "./validation.ts";

export const listEmailsQuery = z.strictObject({
  /** An address among `to`, `cc` or `bcc` (case-insensitive; `ann@x.io` matches `Ann <Ann@X.io>`). */
  to: z.string().min(1).optional(),
  idempotencyKey: z.string().min(1).optional(),
  since: z.coerce.number().int().nonnegative().optional(),
  limit: z.coerce.number().int().positive().optional(),
});

/** What the client sends (the schema coerces query strings back to numbers). */
export type ListEmailsQuery = {
  to?: string;
  idempotencyKey?: string;
  since?: number;
  limit?: number;
};

export type ListEmailsResult = { emails: ReceivedEmail[] } & EmailCounters;

/**
 * `GET /_control/emails` — the emails `POST /emails` accepted (each sent once), oldest first, and
 * the counters: `sent` and `replayed` (answered from an idempotency key, nothing sent).
 */
export function listEmailsRoute(app: FastifyInstance, { state }: SimulatorContext): void {
  app.get("/_control/emails", async (request, reply) => {
    const query = parseOrReply(listEmailsQuery, request.query, reply, "query");
    if (query === null) return reply;
    const result: ListEmailsResult = { emails: state.emails.list(query), ...state.emails.counts() };
    return result;
  });
}
