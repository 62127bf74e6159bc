import { inputError } from "@syncwell/runtime";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import {
  type DealRow,
  findDeal,
  linkContacts,
  lockUserDeals,
  ownContactIds,
  unlinkContacts,
  updateDeal,
} from "../repositories/deals.repository.ts";
import { MAX_DEAL_CONTACTS } from "./create-deal.route.ts";
import { dealFieldProblems, dealFields, resolveDealFields, toDealView } from "./deal-fields.ts";
import { type HealthRoutesDeps, rescoreChanged } from "./deps.ts";
import { notFound, parseRequest, sendError, userItemParams } from "./http.ts";

const contactList = z.array(z.uuid()).max(MAX_DEAL_CONTACTS).optional();

/**
 * Every field optional, at least one given. A new `stage` (other than in case or spaces) restarts
 * the stage's clock (`stageEnteredAt` = now). `addContactIds` / `removeContactIds` change the
 * deal's contacts; `null` clears an optional field.
 */
export const updateDealBody = z
  .strictObject({
    ...dealFields,
    name: dealFields.name.optional(),
    stage: dealFields.stage.optional(),
    addContactIds: contactList,
    removeContactIds: contactList,
  })
  .refine((body) => Object.values(body).some((value) => value !== undefined), {
    message: "give at least one field to change",
  });

type UpdateResult =
  | { kind: "updated"; row: DealRow }
  | { kind: "not_found" }
  | { kind: "contacts_missing"; ids: string[] }
  | { kind: "external_id_taken"; dealId: string };

/** PATCH /v1/users/:userId/deals/:id — changes what the body gives, keeps the rest. */
export function updateDealRoute(app: FastifyInstance, deps: HealthRoutesDeps): void {
  app.patch("/v1/users/:userId/deals/:id", async (request, reply) => {
    const { params, body: parsed } = parseRequest({
      params: { schema: userItemParams, value: request.params },
      body: { schema: updateDealBody, value: request.body },
    });
    const { userId, id } = params;
    const { addContactIds = [], removeContactIds = [], ...body } = parsed;
    const now = new Date();
    const result = await deps.prisma.$transaction(async (tx): Promise<UpdateResult> => {
      await lockUserDeals(tx, userId);
      const current = await findDeal(tx, userId, id);
      if (!current) return { kind: "not_found" };
      const fields = resolveDealFields(body, current, now);
      const problems = dealFieldProblems(body, fields, ["body"]);
      if (problems.length > 0) throw inputError(problems);
      if (body.externalId != null && body.externalId !== current.externalId) {
        const taken = await tx.deal.findFirst({
          where: { userId, externalId: body.externalId },
          select: { id: true },
        });
        if (taken) return { kind: "external_id_taken", dealId: taken.id };
      }
      const own = await ownContactIds(tx, userId, addContactIds);
      const missing = addContactIds.filter((contactId) => !own.has(contactId));
      if (missing.length > 0) return { kind: "contacts_missing", ids: [...new Set(missing)] };
      await unlinkContacts(tx, id, removeContactIds);
      await linkContacts(tx, id, [...new Set(addContactIds)]);
      return { kind: "updated", row: await updateDeal(tx, id, fields) };
    });
    switch (result.kind) {
      case "not_found":
        return notFound(reply, "deal", id);
      case "contacts_missing":
        return notFound(reply, "contact", result.ids.join(", "));
      case "external_id_taken":
        return sendError(reply, 409, {
          error: "external_id_taken",
          message: `deal ${result.dealId} of this user already has this external id`,
          dealId: result.dealId,
          details: [{ path: "body.externalId", message: `belongs to deal ${result.dealId}` }],
        });
      case "updated":
        request.log.info({ userId, dealId: id }, "deal updated");
        await rescoreChanged(deps, request, [{ subjectType: "deal", subjectId: id }]);
        return reply.send(toDealView(result.row));
    }
  });
}
