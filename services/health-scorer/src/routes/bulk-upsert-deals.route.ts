import type { PrismaDb } from "@syncwell/db";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import {
  type DealFields,
  findDealsByExternalId,
  lockUserDeals,
  upsertDealsByExternalId,
} from "../repositories/deals.repository.ts";
import type { BulkItemResult } from "./bulk-results.ts";
import { bulkUpsertRoute, type ValidItem, writtenResults } from "./bulk-upsert.ts";
import { dealFieldProblems, dealFields, resolveDealFields } from "./deal-fields.ts";
import type { HealthRoutesDeps } from "./deps.ts";
import { externalIdField } from "./http.ts";

/**
 * An item: keyed by `externalId`, the deal's fields as on create. Fields left out keep their
 * stored value on an update; links to contacts are set with PATCH (addContactIds).
 */
export const dealItem = z.strictObject({ ...dealFields, externalId: externalIdField });

type Valid = ValidItem<z.output<typeof dealItem>>;

/**
 * POST /v1/users/:userId/deals:bulk-upsert — up to 1,000 deals by external id (see
 * bulkUpsertRoute); a new stage restarts its clock.
 */
export function bulkUpsertDealsRoute(app: FastifyInstance, deps: HealthRoutesDeps): void {
  bulkUpsertRoute(app, deps, {
    noun: "deals",
    subjectType: "deal",
    itemSchema: dealItem,
    uniqueFields: ["externalId"],
    lock: lockUserDeals,
    apply: (tx, userId, valid) => applyItems(tx, userId, valid, new Date()),
  });
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
  const storedIds = new Map(
    stored.flatMap((row) => (row.externalId === null ? [] : [[row.externalId, row.id] as const])),
  );
  const entries = writable.map(({ index, fields }) => ({ index, externalId: fields.externalId }));
  return [...results, ...writtenResults(entries, written, storedIds)];
}
