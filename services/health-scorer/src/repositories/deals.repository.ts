import { uuidv7 } from "@syncwell/contracts";
import { Prisma, type PrismaDb } from "@syncwell/db";

/**
 * The API's reads and writes of a user's deals and their contacts, through Prisma Client. Every
 * lookup is under the user's id, so one user's ids never reach another user's rows.
 */

export type DealRow = Prisma.DealGetPayload<object> & { contactIds: string[] };

/** The columns the API sets (the rest are the row's own). */
export type DealFields = {
  name: string;
  stage: string;
  stageEnteredAt: Date;
  expectedCloseAt: Date | null;
  /** The close date as first set: null exactly when `expectedCloseAt` is (deals_original_expected_close_at_check). */
  originalExpectedCloseAt: Date | null;
  status: "open" | "won" | "lost";
  closedAt: Date | null;
  amount: string | null;
  currency: string | null;
  externalId: string | null;
};

const withContacts = { contacts: { select: { contactId: true }, orderBy: { contactId: "asc" } } } as const;

type DealWithLinks = Prisma.DealGetPayload<{ include: typeof withContacts }>;

function asRow({ contacts, ...deal }: DealWithLinks): DealRow {
  return { ...deal, contactIds: contacts.map((link) => link.contactId) };
}

/** Serialises the API's writes of one user's deals (as `lockUserContacts` does for contacts). */
export async function lockUserDeals(db: PrismaDb, userId: string): Promise<void> {
  await db.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`health-api-deals:${userId}`}, 0))`;
}

export async function findDeal(db: PrismaDb, userId: string, id: string): Promise<DealRow | undefined> {
  const deal = await db.deal.findFirst({ where: { id, userId }, include: withContacts });
  return deal ? asRow(deal) : undefined;
}

export async function findDealsByExternalId(
  db: PrismaDb,
  userId: string,
  externalIds: string[],
): Promise<DealRow[]> {
  const deals = await db.deal.findMany({
    where: { userId, externalId: { in: externalIds } },
    include: withContacts,
  });
  return deals.map(asRow);
}

export async function insertDeal(db: PrismaDb, userId: string, fields: DealFields): Promise<DealRow> {
  return asRow(await db.deal.create({ data: { userId, ...fields }, include: withContacts }));
}

export async function updateDeal(db: PrismaDb, id: string, patch: Partial<DealFields>): Promise<DealRow> {
  return asRow(await db.deal.update({ where: { id }, data: patch, include: withContacts }));
}

/** True when the user had the deal; its score, history and contact links go with it. */
export async function deleteDeal(db: PrismaDb, userId: string, id: string): Promise<boolean> {
  const { count } = await db.deal.deleteMany({ where: { id, userId } });
  return count === 1;
}

/** One page in id order (UUIDv7: creation order; `deals_user_id_id_idx`). */
export async function listDeals(
  db: PrismaDb,
  userId: string,
  page: { limit: number; afterId?: string | undefined },
): Promise<DealRow[]> {
  const deals = await db.deal.findMany({
    where: { userId, id: page.afterId === undefined ? undefined : { gt: page.afterId } },
    orderBy: { id: "asc" },
    take: page.limit,
    include: withContacts,
  });
  return deals.map(asRow);
}

/** Which of these ids are contacts of the user. */
export async function ownContactIds(
  db: PrismaDb,
  userId: string,
  ids: readonly string[],
): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db.contact.findMany({ where: { userId, id: { in: [...ids] } }, select: { id: true } });
  return new Set(rows.map((row) => row.id));
}

/** Links contacts (already checked to be the deal's user's) to a deal; existing links stay. */
export async function linkContacts(
  db: PrismaDb,
  dealId: string,
  contactIds: readonly string[],
): Promise<void> {
  if (contactIds.length === 0) return;
  await db.dealContact.createMany({
    data: contactIds.map((contactId) => ({ dealId, contactId })),
    skipDuplicates: true,
  });
}

export async function unlinkContacts(
  db: PrismaDb,
  dealId: string,
  contactIds: readonly string[],
): Promise<void> {
  if (contactIds.length === 0) return;
  await db.dealContact.deleteMany({ where: { dealId, contactId: { in: [...contactIds] } } });
}

/**
 * The open deals these contacts are linked to, marked changed now (`updated_at`) because their
 * communication is about to be lost (a contact deleted, or its events removed for a new address):
 * a deal's activity is read through its contacts, and a score's inputs must not look older after
 * the loss than before it (the newer input wins), or its rescore would be refused.
 */
export async function touchOpenDealsOfContacts(
  db: PrismaDb,
  contactIds: readonly string[],
): Promise<string[]> {
  if (contactIds.length === 0) return [];
  const links = await db.dealContact.findMany({
    where: { contactId: { in: [...contactIds] }, deal: { status: "open" } },
    select: { dealId: true },
    distinct: ["dealId"],
  });
  const ids = links.map((link) => link.dealId);
  if (ids.length > 0)
    await db.deal.updateMany({ where: { id: { in: ids } }, data: { updatedAt: new Date() } });
  return ids;
}

/**
 * The original close date on a bulk update: the stored one while there is a close date (a stale
 * read of the row cannot move it), none when the close date is cleared, and the item's (its new
 * close date) when the row had none.
 */
const keptOriginalCloseAt = Prisma.sql`CASE WHEN excluded.expected_close_at IS NULL THEN NULL
  ELSE COALESCE(deals.original_expected_close_at, excluded.original_expected_close_at) END`;

export type DealUpsertOutcome = { id: string; externalId: string; inserted: boolean };

/**
 * Inserts or updates deals by external id in one statement; the caller computed every column
 * (stage entry and close times from the stored row, under `lockUserDeals`). The original close
 * date is kept from the stored row all the same (`keptOriginalCloseAt`). A row already holding
 * these values is left as it is (not returned), so repeating a bulk upsert changes nothing; the
 * original close date changes only with the close date, so it need not be compared.
 */
export async function upsertDealsByExternalId(
  db: PrismaDb,
  userId: string,
  items: ReadonlyArray<DealFields & { externalId: string }>,
): Promise<DealUpsertOutcome[]> {
  if (items.length === 0) return [];
  const iso = (date: Date | null) => (date === null ? null : date.toISOString());
  return db.$queryRaw<DealUpsertOutcome[]>`
    INSERT INTO deals (id, user_id, external_id, name, stage, stage_entered_at, expected_close_at,
                       original_expected_close_at, status, closed_at, amount, currency)
    SELECT i.id, ${userId}::uuid, i.external_id, i.name, i.stage, i.stage_entered_at::timestamptz,
           i.expected_close_at::timestamptz, i.original_expected_close_at::timestamptz, i.status,
           i.closed_at::timestamptz, i.amount::numeric, i.currency
    FROM unnest(${items.map(() => uuidv7())}::uuid[], ${items.map((i) => i.externalId)}::text[],
                ${items.map((i) => i.name)}::text[], ${items.map((i) => i.stage)}::text[],
                ${items.map((i) => i.stageEnteredAt.toISOString())}::text[],
                ${items.map((i) => iso(i.expectedCloseAt))}::text[],
                ${items.map((i) => iso(i.originalExpectedCloseAt))}::text[], ${items.map((i) => i.status)}::text[],
                ${items.map((i) => iso(i.closedAt))}::text[], ${items.map((i) => i.amount)}::text[],
                ${items.map((i) => i.currency)}::text[])
      AS i(id, external_id, name, stage, stage_entered_at, expected_close_at, original_expected_close_at,
           status, closed_at, amount, currency)
    ON CONFLICT (user_id, external_id) DO UPDATE
      SET name = excluded.name, stage = excluded.stage, stage_entered_at = excluded.stage_entered_at,
          expected_close_at = excluded.expected_close_at,
          original_expected_close_at = ${keptOriginalCloseAt}, status = excluded.status,
          closed_at = excluded.closed_at, amount = excluded.amount, currency = excluded.currency,
          updated_at = now()
      WHERE (deals.name, deals.stage, deals.stage_entered_at, deals.expected_close_at, deals.status,
             deals.closed_at, deals.amount, deals.currency)
        IS DISTINCT FROM (excluded.name, excluded.stage, excluded.stage_entered_at,
             excluded.expected_close_at, excluded.status, excluded.closed_at, excluded.amount, excluded.currency)
    RETURNING id::text AS id, external_id AS "externalId", (xmax = 0) AS inserted`;
}
