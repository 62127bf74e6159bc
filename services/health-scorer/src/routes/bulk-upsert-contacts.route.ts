import type { PrismaDb } from "@syncwell/db";
import type { FastifyBaseLogger, FastifyInstance } from "fastify";
import { z } from "zod";
import {
  type ContactRow,
  findContactsByKeys,
  lockUserContacts,
  type UpsertOutcome,
  upsertContactsByExternalId,
} from "../repositories/contacts.repository.ts";
import {
  type AddressedContact,
  linkStoredCommunication,
} from "../repositories/stored-communication.repository.ts";
import { type BulkItemResult, itemError } from "./bulk-results.ts";
import { bulkUpsertRoute, type ValidItem, writtenResults } from "./bulk-upsert.ts";
import { emailField } from "./contact-fields.ts";
import type { HealthRoutesDeps } from "./deps.ts";
import { externalIdField, nameField } from "./http.ts";

/** An item: keyed by `externalId`; `name` left out or null clears it (the CRM's record is the truth). */
export const contactItem = z.strictObject({
  externalId: externalIdField,
  email: emailField,
  name: nameField(500).nullable().optional(),
});

type Valid = ValidItem<z.output<typeof contactItem>>;

/**
 * POST /v1/users/:userId/contacts:bulk-upsert — up to 1,000 contacts by external id (see
 * bulkUpsertRoute); an item is also refused when its email repeats another item's or another
 * contact holds it. The contacts created, and those whose email changed, are linked to the user's
 * stored Gmail messages and Calendar events of their address in the same transaction.
 */
export function bulkUpsertContactsRoute(app: FastifyInstance, deps: HealthRoutesDeps): void {
  bulkUpsertRoute(app, deps, {
    noun: "contacts",
    subjectType: "contact",
    itemSchema: contactItem,
    uniqueFields: ["externalId", "email"],
    lock: lockUserContacts,
    apply: applyItems,
  });
}

/**
 * Refuses items whose email another contact holds (a contact with another external id, or none),
 * then writes the rest in one statement. Under the user's contacts lock, so the check holds.
 */
async function applyItems(
  tx: PrismaDb,
  userId: string,
  valid: Valid[],
  log: FastifyBaseLogger,
): Promise<BulkItemResult[]> {
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
  const readdressed = newAddresses(existing, writable, written);
  if (readdressed.length > 0) {
    const linked = await linkStoredCommunication(tx, userId, readdressed);
    log.info({ userId, contacts: readdressed.length, ...linked }, "stored communication linked to contacts");
  }
  const storedIds = new Map(
    existing.flatMap((row) => (row.externalId === null ? [] : [[row.externalId, row.id] as const])),
  );
  const entries = writable.map(({ index, item }) => ({ index, externalId: item.externalId }));
  return [...results, ...writtenResults(entries, written, storedIds)];
}

/** The written contacts whose address is new to them: those inserted, and those whose email changed. */
function newAddresses(
  existing: readonly ContactRow[],
  writable: readonly Valid[],
  written: readonly UpsertOutcome[],
): AddressedContact[] {
  const storedEmails = new Map(existing.map((row) => [row.externalId, row.email]));
  const givenEmails = new Map(writable.map(({ item }) => [item.externalId, item.email]));
  return written.flatMap((row) => {
    const email = givenEmails.get(row.externalId);
    if (email === undefined || (!row.inserted && storedEmails.get(row.externalId) === email)) return [];
    return [{ id: row.id, email }];
  });
}
