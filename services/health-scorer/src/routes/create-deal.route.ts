import { inputError } from "@syncwell/runtime";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { userExists } from "../repositories/contacts.repository.ts";
import {
  type DealRow,
  insertDeal,
  linkContacts,
  lockUserDeals,
  ownContactIds,
} from "../repositories/deals.repository.ts";
import {
  dealFieldProblems,
  dealFields,
  newDealCrossFieldProblems,
  resolveDealFields,
  toDealView,
} from "./deal-fields.ts";
import { type HealthRoutesDeps, rescoreChanged } from "./deps.ts";
import { notFound, parseRequest, sendError, userNotFound, userParams } from "./http.ts";

/** At most this many contacts named in one request. */
export const MAX_DEAL_CONTACTS = 200;

export const createDealBody = z.strictObject({
  ...dealFields,
  contactIds: z.array(z.uuid()).max(MAX_DEAL_CONTACTS).optional(),
});

type CreateResult =
  | { kind: "created"; row: DealRow }
  | { kind: "user_missing" }
  | { kind: "external_id_taken"; dealId: string }
  | { kind: "contacts_missing"; ids: string[] };

/**
 * POST /v1/users/:userId/deals — a deal of the user, in its stage from now, with the user's
 * contacts in `contactIds` (a contact of another user is a 404 like an unknown one).
 */
export function createDealRoute(app: FastifyInstance, deps: HealthRoutesDeps): void {
  app.post("/v1/users/:userId/deals", async (request, reply) => {
    const {
      params: { userId },
      body,
    } = parseNewDeal(request.params, request.body);
    const fields = resolveDealFields(body, undefined, new Date());
    const problems = dealFieldProblems(body, fields, ["body"]);
    if (problems.length > 0) throw inputError(problems);
    const contactIds = [...new Set(body.contactIds ?? [])];
    const result = await deps.prisma.$transaction(async (tx): Promise<CreateResult> => {
      if (!(await userExists(tx, userId))) return { kind: "user_missing" };
      await lockUserDeals(tx, userId);
      if (fields.externalId !== null) {
        const taken = await tx.deal.findFirst({
          where: { userId, externalId: fields.externalId },
          select: { id: true },
        });
        if (taken) return { kind: "external_id_taken", dealId: taken.id };
      }
      const own = await ownContactIds(tx, userId, contactIds);
      const missing = contactIds.filter((id) => !own.has(id));
      if (missing.length > 0) return { kind: "contacts_missing", ids: missing };
      const row = await insertDeal(tx, userId, fields);
      await linkContacts(tx, row.id, contactIds);
      return { kind: "created", row: { ...row, contactIds: [...contactIds].sort() } };
    });
    switch (result.kind) {
      case "user_missing":
        return userNotFound(reply, userId);
      case "contacts_missing":
        return notFound(reply, "contact", result.ids.join(", "));
      case "external_id_taken":
        return sendError(reply, 409, {
          error: "external_id_taken",
          message: `deal ${result.dealId} of this user already has this external id`,
          dealId: result.dealId,
          details: [{ path: "body.externalId", message: `belongs to deal ${result.dealId}` }],
        });
      case "created":
        request.log.info({ userId, dealId: result.row.id }, "deal created");
        await rescoreChanged(deps, request, [{ subjectType: "deal", subjectId: result.row.id }]);
        return reply.code(201).send(toDealView(result.row));
    }
  });
}

/** The request's parts; a bad body's 400 names its cross-field problems too (amount without currency). */
function parseNewDeal(params: unknown, body: unknown) {
  try {
    return parseRequest({
      params: { schema: userParams, value: params },
      body: { schema: createDealBody, value: body },
    });
  } catch (err) {
    if (!(err instanceof z.ZodError)) throw err;
    const named = err.issues.map((issue) => issue.path.join("."));
    const more = newDealCrossFieldProblems(body, named);
    if (more.length === 0) throw err;
    throw new z.ZodError([...err.issues, ...inputError(more).issues]);
  }
}
