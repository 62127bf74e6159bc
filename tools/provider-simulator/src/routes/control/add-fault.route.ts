import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { SimulatorContext } from "../../context.ts";
import { faultMatchSchema, faultSchema, faultTarget, tokenOnlyFaultKinds } from "../../faults.ts";
import { parseOrReply } from "./validation.ts";

export const addFaultBody = faultMatchSchema
  .extend({
    fault: faultSchema,
    /** Number of matching requests to affect (default 1); null = until cleared. */
    times: z.number().int().positive().nullable().optional(),
  })
  .superRefine((body, ctx) => {
    if (faultTarget(body) !== "data") return;
    if (body.refreshToken !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["refreshToken"],
        message: "data requests carry no refresh token",
      });
    }
    const kind = body.fault.kind;
    if ((tokenOnlyFaultKinds as readonly string[]).includes(kind)) {
      ctx.addIssue({
        code: "custom",
        path: ["fault", "kind"],
        message: `${kind} applies to token requests only`,
      });
    }
  });

export type AddFaultBody = z.input<typeof addFaultBody>;

/**
 * `POST /_control/faults` — script a fault for the next matching requests: token requests by
 * provider, connection key and/or presented refresh token; data requests (`endpoint: "data"`, or
 * any fault naming a `resource` or `path`) by provider, connection key, resource and path. Faults
 * apply in the order added; `ratio` makes one apply to that share of its matching requests.
 */
export function addFaultRoute(app: FastifyInstance, { state }: SimulatorContext): void {
  app.post("/_control/faults", async (request, reply) => {
    const body = parseOrReply(addFaultBody, request.body, reply);
    if (body === null) return reply;
    const { fault, times, ...match } = body;
    return reply.code(201).send(state.addFault(match, fault, times === undefined ? 1 : times));
  });
}
