import type { PrismaDb } from "@syncwell/db";
import { findInputProblems } from "@syncwell/runtime";
import type { FastifyBaseLogger, FastifyInstance } from "fastify";
import { z } from "zod";
import { userExists } from "../repositories/contacts.repository.ts";
import {
  type BulkItemResult,
  bulkResponse,
  invalidItem,
  isBulkEnvelope,
  itemError,
  MAX_BULK_ITEMS,
} from "./bulk-results.ts";
import { type HealthRoutesDeps, rescoreChanged } from "./deps.ts";
import { parseRequest, tooManyItems, userNotFound, userParams } from "./http.ts";

/** An item that passed its schema, at its index in the request. */
export type ValidItem<I> = { index: number; item: I };

/** A bulk upsert of one kind of subject: how its items read, and how they are written. */
export type BulkUpsert<I extends { externalId: string }> = {
  /** `contacts` or `deals`: the path segment and what the log line names. */
  noun: "contacts" | "deals";
  subjectType: "contact" | "deal";
  itemSchema: z.ZodType<I>;
  /** Fields no two items of one call may share (the external id, and the contact's email). */
  uniqueFields: readonly (keyof I & string)[];
  /** Takes the lock that makes the user's rows stable while the call checks and writes them. */
  lock: (tx: PrismaDb, userId: string) => Promise<void>;
  /**
   * Writes the valid items (refusing those the stored rows rule out); one result per item. `log`
   * is the request's, for what the writes did besides the items' results.
   */
  apply: (
    tx: PrismaDb,
    userId: string,
    valid: ValidItem<I>[],
    log: FastifyBaseLogger,
  ) => Promise<BulkItemResult[]>;
};

const envelope = z.strictObject({ items: z.array(z.unknown()).min(1) });

/**
 * POST /v1/users/:userId/<noun>:bulk-upsert — up to MAX_BULK_ITEMS items by external id, each with
 * its own result: a bad item does not stop the others, and repeating a call changes nothing. The
 * subjects created or updated are rescored before the answer.
 */
export function bulkUpsertRoute<I extends { externalId: string }>(
  app: FastifyInstance,
  deps: HealthRoutesDeps,
  kind: BulkUpsert<I>,
): void {
  // "::" is a literal colon to the router (a single one starts a parameter).
  app.post(`/v1/users/:userId/${kind.noun}::bulk-upsert`, async (request, reply) => {
    if (isBulkEnvelope(request.body) && request.body.items.length > MAX_BULK_ITEMS)
      return tooManyItems(reply, request.body.items.length);
    const {
      params: { userId },
      body: { items },
    } = parseRequest({
      params: { schema: userParams, value: request.params },
      body: { schema: envelope, value: request.body },
    });
    const { valid, refused } = readBulkItems(items, kind);
    const applied = await deps.prisma.$transaction(async (tx) => {
      if (!(await userExists(tx, userId))) return undefined;
      await kind.lock(tx, userId);
      return kind.apply(tx, userId, valid, request.log);
    });
    if (applied === undefined) return userNotFound(reply, userId);
    const response = bulkResponse([...refused, ...applied]);
    request.log.info({ userId, ...response.counts }, `${kind.noun} upserted`);
    const changed = response.results.flatMap((r) =>
      r.status === "created" || r.status === "updated"
        ? [{ subjectType: kind.subjectType, subjectId: r.id }]
        : [],
    );
    await rescoreChanged(deps, request, changed);
    return reply.send(response);
  });
}

/** The items their schema and the runtime's string rules accept, once per unique field; the rest refused. */
function readBulkItems<I extends { externalId: string }>(
  items: unknown[],
  kind: BulkUpsert<I>,
): { valid: ValidItem<I>[]; refused: BulkItemResult[] } {
  const valid: ValidItem<I>[] = [];
  const refused: BulkItemResult[] = [];
  const seen = new Map(kind.uniqueFields.map((field) => [field, new Map<unknown, number>()]));
  items.forEach((raw, index) => {
    const read = readBulkItem(raw, index, kind, seen);
    if ("item" in read) valid.push(read);
    else refused.push(read);
  });
  return { valid, refused };
}

function readBulkItem<I extends { externalId: string }>(
  raw: unknown,
  index: number,
  kind: BulkUpsert<I>,
  seen: Map<string, Map<unknown, number>>,
): ValidItem<I> | BulkItemResult {
  const parsed = kind.itemSchema.safeParse(raw);
  if (!parsed.success) return invalidItem(index, raw, parsed.error);
  const item = parsed.data;
  const problems = findInputProblems(item, ["body", "items", index]);
  if (problems.length > 0) {
    const details = problems.map((p) => ({ path: p.path.join("."), message: p.message }));
    return { index, status: "error", externalId: null, error: "bad_request", details };
  }
  const repeated = kind.uniqueFields.find((field) => seen.get(field)?.has(item[field]));
  if (repeated !== undefined) {
    const detail = {
      path: `body.items.${index}.${repeated}`,
      message: `repeats item ${seen.get(repeated)?.get(item[repeated])}`,
    };
    return itemError(index, item.externalId, "duplicate_item", detail);
  }
  for (const field of kind.uniqueFields) seen.get(field)?.set(item[field], index);
  return { index, item };
}

/**
 * The results of the items an upsert statement was given: `created` or `updated` for the rows it
 * returned, `unchanged` (with the stored row's id) for those it left as they were.
 */
export function writtenResults(
  writable: readonly { index: number; externalId: string }[],
  written: readonly { externalId: string | null; id: string; inserted: boolean }[],
  storedIds: ReadonlyMap<string, string>,
): BulkItemResult[] {
  const byKey = new Map(written.map((row) => [row.externalId, row]));
  return writable.map(({ index, externalId }) => {
    const row = byKey.get(externalId);
    const id = row?.id ?? storedIds.get(externalId) ?? "";
    const status = row === undefined ? "unchanged" : row.inserted ? "created" : "updated";
    return { index, status, id, externalId };
  });
}
