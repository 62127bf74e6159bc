import type { FastifyReply } from "fastify";
import type { z } from "zod";

export type FieldIssue = { field: string; reason: string };

/**
 * Parses a control-API body or query; on failure answers 400 naming each bad field, e.g.
 * `{"error":"invalid_body","message":"fault.status: Invalid input","issues":[{"field":"fault.status",…}]}`.
 */
export function parseOrReply<T extends z.ZodType>(
  schema: T,
  value: unknown,
  reply: FastifyReply,
  what: "body" | "query" = "body",
): z.output<T> | null {
  const parsed = schema.safeParse(what === "query" ? dropEmpty(value) : (value ?? {}));
  if (parsed.success) return parsed.data;
  const fieldName = (path: readonly PropertyKey[]): string =>
    path.length > 0 ? path.map(String).join(".") : "(root)";
  const issues: FieldIssue[] = parsed.error.issues.flatMap((issue) =>
    issue.code === "unrecognized_keys"
      ? issue.keys.map((key) => ({ field: fieldName([...issue.path, key]), reason: "unknown field" }))
      : [{ field: fieldName(issue.path), reason: issue.message }],
  );
  void reply.code(400).send({
    error: `invalid_${what}`,
    message: issues.map((i) => `${i.field}: ${i.reason}`).join("; "),
    issues,
  });
  return null;
}

/** `?provider=&connectionKey=x` means "no provider filter", as curl users write it. */
function dropEmpty(query: unknown): Record<string, unknown> {
  if (typeof query !== "object" || query === null) return {};
  return Object.fromEntries(Object.entries(query).filter(([, v]) => v !== ""));
}
