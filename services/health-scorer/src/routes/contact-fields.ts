import { normalizeAddress } from "@syncwell/contracts";
import type { FastifyReply } from "fastify";
import { z } from "zod";
import type { ContactRow } from "../repositories/contacts.repository.ts";
import { externalIdField, nameField, sendError } from "./http.ts";

/**
 * An email as the poller matches it (`normalizeAddress`: the bare address, lowercased, from
 * `"Ada" <Ada@X.org>` or `mailto:` too), so a contact meets the records that name it.
 */
export const emailField = z
  .string()
  .max(320)
  .transform((value, ctx) => {
    const address = normalizeAddress(value);
    if (address !== null) return address;
    ctx.addIssue({ code: "custom", message: "is not an email address" });
    return z.NEVER;
  });

export const contactFields = {
  email: emailField,
  name: nameField(500).nullable().optional(),
  externalId: externalIdField.nullable().optional(),
};

/** Another contact of the user already holds the email or the external id. */
export type ContactConflict = { field: "email" | "externalId"; contactId: string };

/** The first contact other than `selfId` that holds one of the keys (rows from `findContactsByKeys`). */
export function contactConflict(
  rows: readonly ContactRow[],
  keys: { email?: string | undefined; externalId?: string | null | undefined },
  selfId?: string,
): ContactConflict | undefined {
  for (const row of rows) {
    if (row.id === selfId) continue;
    if (keys.email !== undefined && row.email === keys.email) return { field: "email", contactId: row.id };
    if (keys.externalId != null && row.externalId === keys.externalId)
      return { field: "externalId", contactId: row.id };
  }
  return undefined;
}

export function sendContactConflict(reply: FastifyReply, conflict: ContactConflict): FastifyReply {
  const taken = conflict.field === "email" ? "email" : "external id";
  return sendError(reply, 409, {
    error: conflict.field === "email" ? "email_taken" : "external_id_taken",
    message: `contact ${conflict.contactId} of this user already has this ${taken}`,
    contactId: conflict.contactId,
    details: [{ path: `body.${conflict.field}`, message: `belongs to contact ${conflict.contactId}` }],
  });
}
