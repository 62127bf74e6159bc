import { sendError } from "@syncwell/runtime";
import type { FastifyReply } from "fastify";
import { z } from "zod";

/** The runtime's: location-prefixed 400 details, and its string rules on what the schema kept. */
export { type InputLocation, parseInput } from "@syncwell/runtime";

/** The runtime's error reply (`{ error, message }` plus fields that help the caller). */
export { sendError };

export const idParams = z.object({ id: z.uuid() });

export function notFound(reply: FastifyReply, id: string): FastifyReply {
  return sendError(reply, 404, { error: "not_found", message: `no connection ${id}` });
}
