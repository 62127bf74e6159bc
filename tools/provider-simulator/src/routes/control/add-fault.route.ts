import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { SimulatorContext } from "../../context.ts";
import { faultMatchSchema, faultSchema } from "../../faults.ts";
import { parseOrReply } from "./validation.ts";

export const addFaultBody = faultMatchSchema.extend({
  fault: faultSchema,
  /** Number of matching requests to affect (default 1); null = until cleared. */
  times: z.number().int().positive().nullable().optional(),
});

export type AddFaultBody = z.input<typeof addFaultBody>;

/**
 * `POST /_control/faults` — script a fault for the next matching token requests. Matching is by
 * provider, connection key and/or presented refresh token; faults apply in the order added.
 */
export function addFaultRoute(app: FastifyInstance, { state }: SimulatorContext): void {
  app.post("/_control/faults", async (request, reply) => {
    const body = parseOrReply(addFaultBody, request.body, reply);
    if (body === null) return reply;
    const { fault, times, ...match } = body;
    return reply.code(201).send(state.addFault(match, fault, times === undefined ? 1 : times));
  });
}
