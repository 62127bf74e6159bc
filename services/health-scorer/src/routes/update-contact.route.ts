import type { FastifyInstance } from "fastify";
import { z } from "zod";
import {
  type ContactRow,
  findContact,
  findContactsByKeys,
  lockUserContacts,
  updateContact,
} from "../repositories/contacts.repository.ts";
import {
  type LinkOutcome,
  linkStoredCommunication,
} from "../repositories/stored-communication.repository.ts";
import {
  type ContactConflict,
  contactConflict,
  contactFields,
  sendContactConflict,
} from "./contact-fields.ts";
import { toContactView } from "./contact-view.ts";
import { type HealthRoutesDeps, rescoreChanged } from "./deps.ts";
import { notFound, parseRequest, userItemParams } from "./http.ts";

/** Every field optional, at least one given; `null` clears `name` or `externalId`. */
export const updateContactBody = z
  .strictObject({ ...contactFields, email: contactFields.email.optional() })
  .refine((body) => Object.values(body).some((value) => value !== undefined), {
    message: "give at least one of email, name, externalId",
  });

type UpdateResult =
  | { kind: "updated"; row: ContactRow; linked: LinkOutcome | null }
  | { kind: "not_found" }
  | { kind: "conflict"; conflict: ContactConflict };

/**
 * PATCH /v1/users/:userId/contacts/:id — changes what the body gives, keeps the rest. A new email
 * replaces the contact's communication events with those of its new address among the user's
 * stored Gmail messages and Calendar events, in the same transaction.
 */
export function updateContactRoute(app: FastifyInstance, deps: HealthRoutesDeps): void {
  app.patch("/v1/users/:userId/contacts/:id", async (request, reply) => {
    const {
      params: { userId, id },
      body,
    } = parseRequest({
      params: { schema: userItemParams, value: request.params },
      body: { schema: updateContactBody, value: request.body },
    });
    const result = await deps.prisma.$transaction(async (tx): Promise<UpdateResult> => {
      await lockUserContacts(tx, userId);
      const before = await findContact(tx, userId, id);
      if (!before) return { kind: "not_found" };
      const keys = {
        emails: body.email === undefined ? [] : [body.email],
        externalIds: body.externalId == null ? [] : [body.externalId],
      };
      const conflict = contactConflict(await findContactsByKeys(tx, userId, keys), body, id);
      if (conflict) return { kind: "conflict", conflict };
      const row = await updateContact(tx, id, body);
      const readdressed = row.email !== before.email;
      return {
        kind: "updated",
        row,
        linked: readdressed ? await linkStoredCommunication(tx, userId, [row]) : null,
      };
    });
    if (result.kind === "not_found") return notFound(reply, "contact", id);
    if (result.kind === "conflict") return sendContactConflict(reply, result.conflict);
    request.log.info({ userId, contactId: id, ...result.linked }, "contact updated");
    await rescoreChanged(deps, request, [{ subjectType: "contact", subjectId: id }]);
    return reply.send(toContactView(result.row));
  });
}
