import { uuidv7 } from "@syncwell/contracts";
import type { Prisma, PrismaDb } from "@syncwell/db";

/**
 * The API's reads and writes of a user's contacts, through Prisma Client. Every function takes the
 * client first (Prisma Client or an interactive transaction's) and the user's id: a contact is
 * always looked up under its user, so one user's ids never reach another user's rows.
 */

export type ContactRow = Prisma.ContactGetPayload<object>;

export type ContactFields = { email: string; name: string | null; externalId: string | null };

/**
 * Serialises the API's writes of one user's contacts until the caller's transaction ends, so the
 * checks for a taken email or external id made before a write still hold when it runs. An advisory
 * lock: the poller only reads contacts, and a row lock on the user would queue its activity writes.
 */
export async function lockUserContacts(db: PrismaDb, userId: string): Promise<void> {
  await db.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`health-api-contacts:${userId}`}, 0))`;
}

export async function userExists(db: PrismaDb, userId: string): Promise<boolean> {
  return (await db.user.count({ where: { id: userId } })) === 1;
}

export async function findContact(db: PrismaDb, userId: string, id: string): Promise<ContactRow | undefined> {
  return (await db.contact.findFirst({ where: { id, userId } })) ?? undefined;
}

/** The user's contacts holding any of these emails or external ids (for conflict checks). */
export async function findContactsByKeys(
  db: PrismaDb,
  userId: string,
  keys: { emails: string[]; externalIds: string[] },
): Promise<ContactRow[]> {
  return db.contact.findMany({
    where: { userId, OR: [{ email: { in: keys.emails } }, { externalId: { in: keys.externalIds } }] },
  });
}

export async function insertContact(
  db: PrismaDb,
  userId: string,
  fields: ContactFields,
): Promise<ContactRow> {
  return db.contact.create({ data: { userId, ...fields } });
}

export async function updateContact(
  db: PrismaDb,
  id: string,
  patch: Partial<ContactFields>,
): Promise<ContactRow> {
  return db.contact.update({ where: { id }, data: patch });
}

/** True when the user had the contact; its score, history and deal links go with it (cascades). */
export async function deleteContact(db: PrismaDb, userId: string, id: string): Promise<boolean> {
  const { count } = await db.contact.deleteMany({ where: { id, userId } });
  return count === 1;
}

/** One page in email order (the unique index on user and email); `afterEmail` is the keyset cursor. */
export async function listContacts(
  db: PrismaDb,
  userId: string,
  page: { limit: number; afterEmail?: string | undefined },
): Promise<ContactRow[]> {
  return db.contact.findMany({
    where: { userId, email: page.afterEmail === undefined ? undefined : { gt: page.afterEmail } },
    orderBy: { email: "asc" },
    take: page.limit,
  });
}

export type UpsertOutcome = { id: string; externalId: string; inserted: boolean };

/**
 * Inserts or updates contacts by external id in one statement. A row whose email and name are
 * already those given is left as it is (not returned): repeating a bulk upsert changes nothing.
 * The caller has checked that no email is taken by another contact (under `lockUserContacts`).
 */
export async function upsertContactsByExternalId(
  db: PrismaDb,
  userId: string,
  items: ReadonlyArray<ContactFields & { externalId: string }>,
): Promise<UpsertOutcome[]> {
  if (items.length === 0) return [];
  // Ids are UUIDv7 like every other row's (creation order); an update keeps the row's own.
  return db.$queryRaw<UpsertOutcome[]>`
    INSERT INTO contacts (id, user_id, external_id, email, name)
    SELECT i.id, ${userId}::uuid, i.external_id, i.email, i.name
    FROM unnest(${items.map(() => uuidv7())}::uuid[], ${items.map((i) => i.externalId)}::text[],
                ${items.map((i) => i.email)}::text[], ${items.map((i) => i.name)}::text[])
      AS i(id, external_id, email, name)
    ON CONFLICT (user_id, external_id) DO UPDATE
      SET email = excluded.email, name = excluded.name, updated_at = now()
      WHERE contacts.email IS DISTINCT FROM excluded.email OR contacts.name IS DISTINCT FROM excluded.name
    RETURNING id::text AS id, external_id AS "externalId", (xmax = 0) AS inserted`;
}
