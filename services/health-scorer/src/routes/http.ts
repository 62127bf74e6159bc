import { type InputLocation, parseInput, sendError } from "@syncwell/runtime";
import type { FastifyReply } from "fastify";
import { z } from "zod";

/** The runtime's: location-prefixed 400 details, and its string rules on what the schema kept. */
export { type InputLocation, parseInput } from "@syncwell/runtime";

type Parts = Partial<Record<InputLocation, { schema: z.ZodType; value: unknown }>>;
type Parsed<P extends Parts> = {
  [L in keyof P]: P[L] extends { schema: infer S extends z.ZodType } ? z.output<S> : never;
};

/**
 * `parseInput` over several parts of a request at once, so one 400 names every bad field, the
 * path's and the body's together.
 */
export function parseRequest<P extends Parts>(parts: P): Parsed<P> {
  const parsed: Record<string, unknown> = {};
  const issues: z.core.$ZodIssue[] = [];
  for (const [location, part] of Object.entries(parts) as Array<
    [InputLocation, { schema: z.ZodType; value: unknown }]
  >) {
    try {
      parsed[location] = parseInput(part.schema, part.value, location);
    } catch (err) {
      if (!(err instanceof z.ZodError)) throw err;
      issues.push(...err.issues);
    }
  }
  if (issues.length > 0) throw new z.ZodError(issues);
  return parsed as Parsed<P>;
}

/** At most this many items in one bulk upsert; more is a 413 (send them in several calls). */
export const MAX_BULK_ITEMS = 1000;

/** The runtime's error reply (`{ error, message }` plus fields that help the caller). */
export { sendError };

/** Every route is under its user: `/v1/users/:userId/…`. */
export const userParams = z.strictObject({ userId: z.uuid() });

export const userItemParams = z.strictObject({ userId: z.uuid(), id: z.uuid() });

/** An unknown id, or one of another user: the same answer, so ids say nothing across users. */
export function notFound(reply: FastifyReply, what: string, id: string): FastifyReply {
  return sendError(reply, 404, { error: "not_found", message: `no ${what} ${id}` });
}

export function userNotFound(reply: FastifyReply, userId: string): FastifyReply {
  return notFound(reply, "user", userId);
}

/** A free-text name: trimmed, not blank, bounded. */
export const nameField = (max: number) => z.string().trim().min(1).max(max);

/** The id in the user's CRM: 1 to 255 characters (contacts_external_id_check, deals_text_check). */
export const externalIdField = z.string().min(1).max(255);

/**
 * A keyset cursor, opaque to callers (base64url of the last key of the previous page); `isKey`
 * says whether the decoded text is a key this list could have produced.
 */
export function cursorField(isKey: (key: string) => boolean) {
  return z
    .string()
    .max(1000)
    .transform((value, ctx) => {
      const key = Buffer.from(value, "base64url").toString("utf8");
      if (key.length > 0 && isKey(key)) return key;
      ctx.addIssue({ code: "custom", message: "is not a cursor returned by this endpoint" });
      return z.NEVER;
    });
}

export const encodeCursor = (key: string): string => Buffer.from(key, "utf8").toString("base64url");

export const limitField = z.coerce.number().int().min(1).max(200).default(50);

/** A page: `next` is the cursor of the following page, null on the last one. */
export type Page<T> = { items: T[]; next: string | null };

/** Rows fetched with one more than the limit: the extra one says whether another page exists. */
export function toPage<R, T>(
  rows: R[],
  limit: number,
  view: (row: R) => T,
  key: (row: R) => string,
): Page<T> {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return {
    items: items.map(view),
    next: rows.length > limit && last !== undefined ? encodeCursor(key(last)) : null,
  };
}

/** A bulk body too large by count: refused whole before any item is looked at. */
export function tooManyItems(reply: FastifyReply, count: number): FastifyReply {
  return sendError(reply, 413, {
    error: "payload_too_large",
    message: `body.items holds ${count} items; at most ${MAX_BULK_ITEMS} per call`,
    details: [{ path: "body.items", message: `must hold at most ${MAX_BULK_ITEMS} items` }],
  });
}

export const iso = (date: Date | null): string | null => (date === null ? null : date.toISOString());
