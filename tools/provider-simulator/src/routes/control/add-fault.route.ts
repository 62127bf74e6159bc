import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { SimulatorContext } from "../../context.ts";
import {
  emailFaultKinds,
  faultMatchSchema,
  faultSchema,
  faultTarget,
  tokenOnlyFaultKinds,
} from "../../faults.ts";
import { parseOrReply } from "./validation.ts";

export const addFaultBody = faultMatchSchema
  .extend({
    fault: faultSchema,
    /** Number of matching requests to affect (default 1); null = until cleared. */
    times: z.number().int().positive().nullable().optional(),
  })
  .superRefine((body, ctx) => {
    const target = faultTarget(body);
    if (target === "email") {
      checkEmailFault(body, ctx);
      return;
    }
    if (body.fault.kind === "drop_after_send") {
      ctx.addIssue({
        code: "custom",
        path: ["fault", "kind"],
        message: "drop_after_send applies to email requests only",
      });
    }
    if (target !== "data") return;
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

/** Email requests carry no provider, connection, refresh token or data resource to match on. */
function checkEmailFault(
  body: z.output<typeof faultMatchSchema> & { fault: z.output<typeof faultSchema> },
  ctx: z.RefinementCtx,
): void {
  for (const field of ["provider", "connectionKey", "refreshToken", "resource"] as const) {
    if (body[field] !== undefined) {
      ctx.addIssue({ code: "custom", path: [field], message: "email requests cannot be matched on it" });
    }
  }
  if (!(emailFaultKinds as readonly string[]).includes(body.fault.kind)) {
    ctx.addIssue({
      code: "custom",
      path: ["fault", "kind"],
      message: `${body.fault.kind} does not apply to email requests`,
    });
  }
}

export type AddFaultBody = z.input<typeof addFaultBody>;

/**
 * `POST /_control/faults` — script a fault for the next matching requests: token requests by
 * provider, connection key and/or presented refresh token; data requests (`endpoint: "data"`, or
 * any fault naming a `resource` or `path`) by provider, connection key, resource and path; email
 * requests (`endpoint: "email"`) all alike. Faults
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
