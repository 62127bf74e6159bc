import { Prisma } from "./generated/prisma/client.ts";
import type { Queryable } from "./pool.ts";
import type { PrismaDb } from "./prisma.ts";

/**
 * The lock that keeps the poller's page writes and the health scorer's linking of stored records
 * from missing each other, one per user (a transaction-scoped advisory lock).
 *
 * Communication events come from two writers. A page write links the records it stores to the
 * contacts its statement sees; linking a new or re-addressed contact matches the records stored
 * before it. Under READ COMMITTED, a page statement whose snapshot was taken before the contact
 * committed does not see the contact, and a linking read that ran before the page committed does
 * not see its records: both miss, and the contact's score never counts that mail.
 *
 * With the lock, a page write takes each of its users' locks shared, in a statement before its
 * page statement; linking takes its user's lock exclusively before it reads. Linking therefore waits
 * for the page writes already under way and then sees their records (READ COMMITTED: each
 * statement's snapshot starts after the lock is held); a page write that comes later waits for the
 * contact's commit, so its statement's snapshot holds the contact. Page writes share the lock with
 * each other, so they never wait for one another.
 *
 * Keyed by a hash of the user id: two users whose hashes collide only wait for each other.
 */
const NAMESPACE = 0x5357_434c; // "SWCL"

/**
 * Takes the shared lock of each of these users until the transaction ends (in sorted order, once
 * each). Call it inside a transaction, before the statement that writes the pages.
 */
export async function lockCommunicationLinksShared(db: Queryable, userIds: readonly string[]): Promise<void> {
  if (userIds.length === 0) return;
  // The subquery is kept (OFFSET 0) so the locks are taken in its order, one per distinct user.
  await db.query(
    `SELECT count(pg_advisory_xact_lock_shared(${NAMESPACE}, hashtext(u::text)))::int AS locked
     FROM (SELECT DISTINCT u FROM unnest($1::uuid[]) u ORDER BY u OFFSET 0) users`,
    [userIds],
  );
}

/**
 * Takes the user's lock exclusively until the transaction ends, waiting for the page writes of the
 * user that hold it shared. Call it inside the transaction that links, before its first read.
 */
export async function lockCommunicationLinks(db: PrismaDb, userId: string): Promise<void> {
  await db.$queryRaw(
    Prisma.sql`SELECT count(pg_advisory_xact_lock(${NAMESPACE}::int, hashtext(${userId}::uuid::text)))::int AS locked`,
  );
}
