import type { PrismaDb } from "@syncwell/db";
import { findInputProblems } from "@syncwell/runtime";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import {
  type ContactRow,
  findContactsByKeys,
  lockUserContacts,
  upsertContactsByExternalId,
  userExists,
} from "../repositories/contacts.repository.ts";
import {
  type BulkItemResult,
  bulkResponse,
  invalidItem,
  isBulkEnvelope,
  itemError,
  MAX_BULK_ITEMS,
} from "./bulk-results.ts";
import { emailField } from "./contact-fields.ts";
import { type HealthRoutesDeps, rescoreChanged } from "./deps.ts";
import { externalIdField, nameField, parseRequest, tooManyItems, userNotFound, userParams } from "./http.ts";

/** An item: keyed by `externalId`; `name` left out or null clears it (the CRM's record is the truth). */
export const contactItem = z.strictObject({
  externalId: externalIdField,
  email: emailField,
  name: nameField(500).nullable().optional(),
});

type Item = z.output<typeof contactItem>;
type Valid = { index: number; item: Item };

const envelope = z.strictObject({ items: z.array(z.unknown()).min(1) });

/**
 * POST /v1/users/:userId/contacts:bulk-upsert — up to 1,000 contacts by external id: created when
 * new, updated when changed, left alone when the same (repeating a call changes nothing). Each item
 * gets its own result; a bad item (invalid, a repeated key, an email another contact holds) does
 * not stop the others.
 */
export function bulkUpsertContactsRoute(app: FastifyInstance, deps: HealthRoutesDeps): void {
  // "::" is a literal colon to the router (a single one starts a parameter).
  app.post("/v1/users/:userId/contacts::bulk-upsert", async (request, reply) => {
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
    const valid = readItems(items, results);
    const applied = await deps.prisma.$transaction(async (tx) => {
      if (!(await userExists(tx, userId))) return undefined;
      await lockUserContacts(tx, userId);
      return applyItems(tx, userId, valid);
    });
    if (applied === undefined) return userNotFound(reply, userId);
    results.push(...applied);
    const response = bulkResponse(results);
    request.log.info({ userId, ...response.counts }, "contacts upserted");
    const changed = response.results.flatMap((r) =>
      r.status === "created" || r.status === "updated"
        ? [{ subjectType: "contact" as const, subjectId: r.id }]
        : [],
    );
    await rescoreChanged(deps, request, changed);
    return reply.send(response);
  });
}

/** The items each schema accepts, and repeated keys refused; the rest go to `results`. */
function readItems(items: unknown[], results: BulkItemResult[]): Valid[] {
  const valid: Valid[] = [];
  const seen = { externalIds: new Map<string, number>(), emails: new Map<string, number>() };
  items.forEach((raw, index) => {
    const read = readItem(raw, index, seen);
    if ("item" in read) valid.push(read);
    else results.push(read);
  });
  return valid;
}

type Seen = { externalIds: Map<string, number>; emails: Map<string, number> };

function readItem(raw: unknown, index: number, seen: Seen): Valid | BulkItemResult {
  const parsed = contactItem.safeParse(raw);
  if (!parsed.success) return invalidItem(index, raw, parsed.error);
  const item = parsed.data;
  const problems = findInputProblems(item, ["body", "items", index]);
  if (problems.length > 0) {
    const details = problems.map((p) => ({ path: p.path.join("."), message: p.message }));
    return { index, status: "error", externalId: null, error: "bad_request", details };
  }
  const sameKey = seen.externalIds.get(item.externalId);
  const sameEmail = seen.emails.get(item.email);
  if (sameKey !== undefined || sameEmail !== undefined) {
    const field = sameKey !== undefined ? "externalId" : "email";
    const detail = { path: `body.items.${index}.${field}`, message: `repeats item ${sameKey ?? sameEmail}` };
    return itemError(index, item.externalId, "duplicate_item", detail);
  }
  seen.externalIds.set(item.externalId, index);
  seen.emails.set(item.email, index);
  return { index, item };
}

/**
 * Refuses items whose email another contact holds (a contact with another external id, or none),
 * then writes the rest in one statement. Under the user's contacts lock, so the check holds.
 */
async function applyItems(tx: PrismaDb, userId: string, valid: Valid[]): Promise<BulkItemResult[]> {
  const existing = await findContactsByKeys(tx, userId, {
    emails: valid.map((v) => v.item.email),
    externalIds: valid.map((v) => v.item.externalId),
  });
  const byEmail = new Map<string, ContactRow>(existing.map((row) => [row.email, row]));
  const results: BulkItemResult[] = [];
  const writable: Valid[] = [];
  for (const entry of valid) {
    const owner = byEmail.get(entry.item.email);
    if (owner && owner.externalId !== entry.item.externalId) {
      const detail = { path: `body.items.${entry.index}.email`, message: `belongs to contact ${owner.id}` };
      results.push(itemError(entry.index, entry.item.externalId, "email_taken", detail));
    } else writable.push(entry);
  }
  const written = await upsertContactsByExternalId(
    tx,
    userId,
    writable.map(({ item }) => ({ externalId: item.externalId, email: item.email, name: item.name ?? null })),
  );
  const byKey = new Map(written.map((row) => [row.externalId, row]));
  const ids = new Map(existing.flatMap((row) => (row.externalId === null ? [] : [[row.externalId, row.id]])));
  for (const { index, item } of writable) {
    const row = byKey.get(item.externalId);
    const id = row?.id ?? ids.get(item.externalId) ?? "";
    const status = row === undefined ? "unchanged" : row.inserted ? "created" : "updated";
    results.push({ index, status, id, externalId: item.externalId });
  }
  return results;
}
