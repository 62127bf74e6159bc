/** Seeding shared by the poller's benchmarks: users, their contacts, and statistics at the end. */
import type { Queryable } from "@syncwell/db";

/** Users `bench-<id>@example.com`, one per id. */
export async function insertUsers(db: Queryable, ids: readonly string[]): Promise<void> {
  await db.query(
    "INSERT INTO users (id, email) SELECT id, 'bench-' || id || '@example.com' FROM unnest($1::uuid[]) AS t(id)",
    [ids],
  );
}

/** The same contacts (lowercased addresses) for each of `userIds`. */
export async function insertContacts(
  db: Queryable,
  userIds: readonly string[],
  emails: readonly string[],
): Promise<void> {
  await db.query(
    `INSERT INTO contacts (id, user_id, email)
     SELECT gen_random_uuid(), u, e FROM unnest($1::uuid[]) AS u, unnest($2::text[]) AS e`,
    [userIds, emails],
  );
}

/**
 * Statistics as a database in service has them (autovacuum would get there a little later), then
 * the `--setup` SQL of a run, which tries a change (an index, a setting) against the same data.
 */
export async function finishSeeding(db: Queryable, setupSql: string | undefined): Promise<void> {
  await db.query("ANALYZE");
  if (setupSql) await db.query(setupSql);
}
