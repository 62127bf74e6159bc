import type { InputProblem } from "@syncwell/runtime";
import { z } from "zod";
import { stageKey } from "../domain/deal-health.ts";
import type { DealFields, DealRow } from "../repositories/deals.repository.ts";
import { externalIdField, iso, nameField } from "./http.ts";

/** An instant with its offset (`2026-12-24T17:00:00Z`). */
const instantField = z.iso.datetime({ offset: true }).transform((value) => new Date(value));

/** Exact decimal text (numeric(19,4)): never a binary float on the way to the column. */
const amountField = z
  .union([z.string(), z.number()])
  .transform((value) => String(value))
  .pipe(
    z.string().regex(/^\d{1,15}(\.\d{1,4})?$/, "must be a number ≥ 0 with at most 15 digits and 4 decimals"),
  );

export const dealStatuses = ["open", "won", "lost"] as const;

/** What a body may set on a deal; create requires `name` and `stage`. */
export const dealFields = {
  name: nameField(500),
  stage: nameField(100),
  expectedCloseAt: instantField.nullable().optional(),
  status: z.enum(dealStatuses).optional(),
  /** Only with status won or lost; left out there, the time of the request. */
  closedAt: instantField.optional(),
  amount: amountField.nullable().optional(),
  currency: z
    .string()
    .regex(/^[A-Z]{3}$/, "must be an ISO 4217 code in capitals (EUR)")
    .nullable()
    .optional(),
  externalId: externalIdField.nullable().optional(),
};

type DealBody = {
  name?: string | undefined;
  stage?: string | undefined;
  expectedCloseAt?: Date | null | undefined;
  status?: (typeof dealStatuses)[number] | undefined;
  closedAt?: Date | undefined;
  amount?: string | null | undefined;
  currency?: string | null | undefined;
  externalId?: string | null | undefined;
};

/**
 * Rules across fields, checked on the columns a body leads to (a patch may give one side and rely
 * on the stored other): an amount has its currency (deals_amount_check), and only a closed deal
 * takes a close time. Each problem is located under `root` at the field to change.
 */
export function dealFieldProblems(
  body: DealBody,
  fields: DealFields,
  root: Array<string | number>,
): InputProblem[] {
  const problems: InputProblem[] = [];
  if (body.closedAt !== undefined && fields.status === "open")
    problems.push({ path: [...root, "closedAt"], message: "is allowed only with status won or lost" });
  if ((fields.amount === null) !== (fields.currency === null)) {
    const missing = fields.amount === null ? "amount" : "currency";
    problems.push({ path: [...root, missing], message: "is required: amount and currency go together" });
  }
  return problems;
}

/**
 * The cross-field problems of a new deal's body that failed its schema, so one 400 names them
 * beside the field problems: found on the fields that read on their own (each by its own schema),
 * leaving out fields already named.
 */
export function newDealCrossFieldProblems(raw: unknown, named: readonly string[]): InputProblem[] {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return [];
  const readable: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(dealFields)) {
    const read = schema.safeParse((raw as Record<string, unknown>)[name]);
    if (read.success && read.data !== undefined) readable[name] = read.data;
  }
  const body = readable as DealBody;
  return dealFieldProblems(body, resolveDealFields(body, undefined, new Date()), ["body"]).filter(
    (problem) => !named.includes(problem.path.join(".")),
  );
}

/**
 * The stored columns once a body is applied over the current row (none: a new deal) at `now`: a
 * stage that changes (not only in case or spaces) restarts its clock; a deal closes at `closedAt`
 * or now, keeps its close time while it stays closed, and has none while open. The original close
 * date is the first one set: kept while the close date moves, cleared with it.
 */
export function resolveDealFields(body: DealBody, current: DealRow | undefined, now: Date): DealFields {
  const stage = body.stage ?? current?.stage ?? "";
  const stageChanged = current === undefined || stageKey(stage) !== stageKey(current.stage);
  const status = body.status ?? (current?.status as DealFields["status"] | undefined) ?? "open";
  const keptClose = current !== undefined && current.status !== "open" ? current.closedAt : null;
  const expectedCloseAt =
    body.expectedCloseAt === undefined ? (current?.expectedCloseAt ?? null) : body.expectedCloseAt;
  return {
    name: body.name ?? current?.name ?? "",
    stage,
    stageEnteredAt: stageChanged ? now : current.stageEnteredAt,
    expectedCloseAt,
    originalExpectedCloseAt:
      expectedCloseAt === null ? null : (current?.originalExpectedCloseAt ?? expectedCloseAt),
    status,
    closedAt: status === "open" ? null : (body.closedAt ?? keptClose ?? now),
    amount: body.amount === undefined ? (current?.amount?.toString() ?? null) : body.amount,
    currency: body.currency === undefined ? (current?.currency ?? null) : body.currency,
    externalId: body.externalId === undefined ? (current?.externalId ?? null) : body.externalId,
  };
}

/** What the API shows of a deal. */
export type DealView = {
  id: string;
  userId: string;
  externalId: string | null;
  name: string;
  stage: string;
  stageEnteredAt: string;
  expectedCloseAt: string | null;
  /** The close date as first set (slippage is measured from it); read-only, null without a close date. */
  originalExpectedCloseAt: string | null;
  status: string;
  closedAt: string | null;
  /** Exact decimal text, e.g. "1200.5". */
  amount: string | null;
  currency: string | null;
  contactIds: string[];
  createdAt: string;
  updatedAt: string;
};

export function toDealView(row: DealRow): DealView {
  return {
    id: row.id,
    userId: row.userId,
    externalId: row.externalId,
    name: row.name,
    stage: row.stage,
    stageEnteredAt: row.stageEnteredAt.toISOString(),
    expectedCloseAt: iso(row.expectedCloseAt),
    originalExpectedCloseAt: iso(row.originalExpectedCloseAt),
    status: row.status,
    closedAt: iso(row.closedAt),
    amount: row.amount === null ? null : row.amount.toString(),
    currency: row.currency,
    contactIds: row.contactIds,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}
