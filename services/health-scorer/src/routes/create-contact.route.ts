import type { FastifyInstance } from "fastify";
import { z } from "zod";
import {
  type ContactRow,
  findContactsByKeys,
  insertContact,
  lockUserContacts,
  userExists,
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
import { parseRequest, userNotFound, userParams } from "./http.ts";

export const createContactBody = z.strictObject(contactFields);

type CreateResult =
  | { kind: "created"; row: ContactRow; linked: LinkOutcome }
  | { kind: "user_missing" }
  | { kind: "conflict"; conflict: ContactConflict };

/**
 * POST /v1/users/:userId/contacts — a contact of the user. An email or external id another
 * contact of the user holds is a 409 naming that contact (a retried create learns the id it made).
 * The user's Gmail messages and Calendar events stored before it are linked to it in the same
 * transaction, so its first score counts them.
 */
export function createContactRoute(app: FastifyInstance, deps: HealthRoutesDeps): void {
  app.post("/v1/users/:userId/contacts", async (request, reply) => {
    const {
      params: { userId },
      body,
    } = parseRequest({
      params: { schema: userParams, value: request.params },
      body: { schema: createContactBody, value: request.body },
    });
    const fields = { email: body.email, name: body.name ?? null, externalId: body.externalId ?? null };
    const result = await deps.prisma.$transaction(async (tx): Promise<CreateResult> => {
      if (!(await userExists(tx, userId))) return { kind: "user_missing" };
      await lockUserContacts(tx, userId);
      const keys = {
        emails: [fields.email],
        externalIds: fields.externalId === null ? [] : [fields.externalId],
      };
      const conflict = contactConflict(await findContactsByKeys(tx, userId, keys), fields);
      if (conflict) return { kind: "conflict", conflict };
      const row = await insertContact(tx, userId, fields);
      return { kind: "created", row, linked: await linkStoredCommunication(tx, userId, [row]) };
    });
    if (result.kind === "user_missing") return userNotFound(reply, userId);
    if (result.kind === "conflict") return sendContactConflict(reply, result.conflict);
    request.log.info({ userId, contactId: result.row.id, ...result.linked }, "contact created");
    await rescoreChanged(deps, request, [{ subjectType: "contact", subjectId: result.row.id }]);
    return reply.code(201).send(toContactView(result.row));
  });
}
