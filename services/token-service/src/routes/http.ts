import type { ErrorBody } from "@syncwell/runtime";
import type { FastifyReply } from "fastify";
import { z } from "zod";

export type InputLocation = "body" | "query" | "params" | "headers";

/**
 * Parses one part of a request. A failure is thrown as a ZodError whose paths start with the
 * location (`body.expiresAt`), which the runtime's error handler turns into a 400 listing each
 * field and reason, as it does for Fastify's own validation. Zod's messages do not quote the input,
 * so a rejected token never appears in the response.
 */
export function parseInput<S extends z.ZodType>(
  schema: S,
  value: unknown,
  location: InputLocation,
): z.output<S> {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  throw new z.ZodError(result.error.issues.map((issue) => ({ ...issue, path: [location, ...issue.path] })));
}

/** An error reply in the runtime's format (`{ error, message }`), plus fields that help the caller. */
export function sendError(
  reply: FastifyReply,
  status: number,
  body: ErrorBody & Record<string, unknown>,
): FastifyReply {
  return reply.code(status).send(body);
}

export const idParams = z.object({ id: z.uuid() });

export function notFound(reply: FastifyReply, id: string): FastifyReply {
  return sendError(reply, 404, { error: "not_found", message: `no connection ${id}` });
}
