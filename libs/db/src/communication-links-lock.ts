import type pg from "pg";
import { Prisma } from "./generated/prisma/client.ts";
import { type Queryable, withTransaction } from "./pool.ts";
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
 * With the lock, a page write takes its users' locks shared, in a statement before its page
 * statement (only the users whose pages name addresses: other records never link); linking takes
 * its user's lock exclusively before it reads. Linking therefore waits
 * for the page writes already under way and then sees their records (READ COMMITTED: each
 * statement's snapshot starts after the lock is held); a page write that comes later waits for the
 * contact's commit, so its statement's snapshot holds the contact. Page writes share the lock with
 * each other, so they never wait for one another.
 *
 * Keyed by a hash of the user id: two users whose hashes collide only wait for each other.
 */
const NAMESPACE = 0x5357_434c; // "SWCL"

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Runs `write` (a page write) in a transaction that holds these users' locks shared until its
 * commit; BEGIN and the locks go in one round trip. Without users (pages that link nothing: no
 * record names an address) `write` runs on the pool, outside a transaction.
 */
export async function withCommunicationLinksShared<T>(
  pool: pg.Pool,
  userIds: readonly string[],
  write: (db: Queryable) => Promise<T>,
): Promise<T> {
  const users = [...new Set(userIds)].sort();
  if (users.length === 0) return write(pool);
  for (const id of users) if (!UUID.test(id)) throw new Error(`not a user id: ${JSON.stringify(id)}`);
  // A simple query takes no parameters: the ids, checked above, go in as an array literal.
  const locks = `SELECT count(pg_advisory_xact_lock_shared(${NAMESPACE}, hashtext(u::text)))::int AS locked
    FROM unnest('{${users.join(",")}}'::uuid[]) u`;
  return withTransaction(pool, write, { first: locks });
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
