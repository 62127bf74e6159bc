import type { PrismaDb } from "@syncwell/db";
import { findInputProblems } from "@syncwell/runtime";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { userExists } from "../repositories/contacts.repository.ts";
import {
  type DealFields,
  findDealsByExternalId,
  lockUserDeals,
  upsertDealsByExternalId,
} from "../repositories/deals.repository.ts";
import {
  type BulkItemResult,
  bulkResponse,
  invalidItem,
  isBulkEnvelope,
  itemError,
  MAX_BULK_ITEMS,
} from "./bulk-results.ts";
import { dealFieldProblems, dealFields, resolveDealFields } from "./deal-fields.ts";
import { type HealthRoutesDeps, rescoreChanged } from "./deps.ts";
import { externalIdField, parseRequest, tooManyItems, userNotFound, userParams } from "./http.ts";

/**
 * An item: keyed by `externalId`, the deal's fields as on create. Fields left out keep their
 * stored value on an update; links to contacts are set with PATCH (addContactIds).
 */
export const dealItem = z.strictObject({ ...dealFields, externalId: externalIdField });

type Item = z.output<typeof dealItem>;
type Valid = { index: number; item: Item };

const envelope = z.strictObject({ items: z.array(z.unknown()).min(1) });

/**
 * POST /v1/users/:userId/deals:bulk-upsert — up to 1,000 deals by external id: created when new,
 * updated when changed (a new stage restarts its clock), left alone when the same (repeating a call
 * changes nothing). Each item gets its own result; a bad item does not stop the others.
 */
export function bulkUpsertDealsRoute(app: FastifyInstance, deps: HealthRoutesDeps): void {
  // "::" is a literal colon to the router (a single one starts a parameter).
  app.post("/v1/users/:userId/deals::bulk-upsert", async (request, reply) => {
    if (isBulkEnvelope(request.body) && request.body.items.length > MAX_BULK_ITEMS)
      return tooManyItems(reply, request.body.items.length);
    const {
      params: { userId },
      body: { items },
    } = parseRequest({
      params: { schema: userParams, value: request.params },
      body: { schema: envelope, value: request.body },
    });
    const results: BulkItemResult[] = [];
    const valid: Valid[] = [];
    const seen = new Map<string, number>();
    items.forEach((raw, index) => {
      const read = readItem(raw, index, seen);
      if ("item" in read) valid.push(read);
      else results.push(read);
    });
    const applied = await deps.prisma.$transaction(async (tx) => {
      if (!(await userExists(tx, userId))) return undefined;
      await lockUserDeals(tx, userId);
      return applyItems(tx, userId, valid, new Date());
    });
    if (applied === undefined) return userNotFound(reply, userId);
    results.push(...applied);
    const response = bulkResponse(results);
    request.log.info({ userId, ...response.counts }, "deals upserted");
    const changed = response.results.flatMap((r) =>
      r.status === "created" || r.status === "updated"
        ? [{ subjectType: "deal" as const, subjectId: r.id }]
        : [],
    );
    await rescoreChanged(deps, request, changed);
    return reply.send(response);
  });
}

function readItem(raw: unknown, index: number, seen: Map<string, number>): Valid | BulkItemResult {
  const parsed = dealItem.safeParse(raw);
  if (!parsed.success) return invalidItem(index, raw, parsed.error);
  const item = parsed.data;
  const problems = findInputProblems(item, ["body", "items", index]);
  if (problems.length > 0) {
    const details = problems.map((p) => ({ path: p.path.join("."), message: p.message }));
    return { index, status: "error", externalId: null, error: "bad_request", details };
  }
  const same = seen.get(item.externalId);
  if (same !== undefined) {
    const detail = { path: `body.items.${index}.externalId`, message: `repeats item ${same}` };
    return itemError(index, item.externalId, "duplicate_item", detail);
  }
  seen.set(item.externalId, index);
  return { index, item };
}

/** Each item's columns from its stored row (under the user's deals lock), then one statement. */
async function applyItems(
  tx: PrismaDb,
  userId: string,
  valid: Valid[],
  now: Date,
): Promise<BulkItemResult[]> {
  const stored = await findDealsByExternalId(
    tx,
    userId,
    valid.map((v) => v.item.externalId),
  );
  const byKey = new Map(stored.map((row) => [row.externalId ?? "", row]));
  const results: BulkItemResult[] = [];
  const writable: Array<{ index: number; fields: DealFields & { externalId: string } }> = [];
  for (const { index, item } of valid) {
    const fields = resolveDealFields(item, byKey.get(item.externalId), now);
    const problems = dealFieldProblems(item, fields, ["body", "items", index]);
    if (problems.length > 0) {
      const details = problems.map((p) => ({ path: p.path.join("."), message: p.message }));
      results.push({ index, status: "error", externalId: item.externalId, error: "bad_request", details });
    } else writable.push({ index, fields: { ...fields, externalId: item.externalId } });
  }
  const written = await upsertDealsByExternalId(
    tx,
    userId,
    writable.map((w) => w.fields),
  );
  const writtenByKey = new Map(written.map((row) => [row.externalId, row]));
  for (const { index, fields } of writable) {
    const row = writtenByKey.get(fields.externalId);
    const id = row?.id ?? byKey.get(fields.externalId)?.id ?? "";
    const status = row === undefined ? "unchanged" : row.inserted ? "created" : "updated";
    results.push({ index, status, id, externalId: fields.externalId });
  }
  return results;
}
