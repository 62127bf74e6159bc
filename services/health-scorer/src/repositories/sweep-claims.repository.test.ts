// Claiming stale scores on a real database: users are read in id order from `fromUserId`, only
// active users' stale, unclaimed scores not yet attempted in the run are claimed, and a claim is
// not taken twice. Finding unscored subjects: in id order, with a plan that stays a lookup per
// subject when most are scored.
import { randomUUID } from "node:crypto";
import { withTransaction } from "@syncwell/db";
import { createTestDatabase, explainingQueryable, type TestDatabase } from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { claimStaleScores, findUnscored, type SweepClaimOptions } from "./sweep-claims.repository.ts";

describe("claimStaleScores", () => {
  let db: TestDatabase;
  /** Active users in id order, each with two stale contact scores. */
  let users: string[];
  let inactive: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    users = [randomUUID(), randomUUID(), randomUUID()].sort();
    inactive = randomUUID();
    for (const id of [...users, inactive]) {
      const seen = id === inactive ? "now() - interval '30 days'" : "now()";
      await db.pool.query(`INSERT INTO users (id, email, last_active_at) VALUES ($1, $2, ${seen})`, [
        id,
        `${id}@example.test`,
      ]);
      for (let k = 0; k < 2; k++) {
        const contact = randomUUID();
        await db.pool.query(`INSERT INTO contacts (id, user_id, email) VALUES ($1, $2, $3)`, [
          contact,
          id,
          `${contact}@contact.test`,
        ]);
        await db.pool.query(
          `INSERT INTO health_scores (subject_type, subject_id, user_id, score, status, components,
             inputs_from, inputs_to, inputs_as_of, computed_at)
           VALUES ('contact', $1, $2, 50, 'at_risk', '[]', now(), now(), now(), now() - interval '2 days')`,
          [contact, id],
        );
      }
    }
  });

  afterAll(async () => {
    await db?.drop();
  });

  const options = (over: Partial<SweepClaimOptions>): SweepClaimOptions => ({
    limit: 100,
    leaseMs: 60_000,
    claimedBy: "test",
    maxAgeMs: 86_400_000,
    activeWindowMs: 7 * 86_400_000,
    attemptedBefore: new Date(Date.now() + 1_000),
    fromUserId: null,
    ...over,
  });
  const usersOf = (claimed: { userId: string }[]) => [...new Set(claimed.map((c) => c.userId))].sort();

  it("reads users from fromUserId on, claims each stale score of active users once, and finds the rest from the first user", async () => {
    const second = users[1] as string;
    const fromSecond = await claimStaleScores(db.pool, options({ fromUserId: second }));
    expect(fromSecond).toHaveLength(4);
    expect(usersOf(fromSecond)).toEqual(users.slice(1));

    // Claimed and attempted in this run: not claimed again, from anywhere.
    const rest = await claimStaleScores(db.pool, options({}));
    expect(usersOf(rest)).toEqual(users.slice(0, 1));
    expect(rest).toHaveLength(2);
    expect(await claimStaleScores(db.pool, options({}))).toEqual([]);

    // The inactive user's stale scores were never claimed.
    const { rows } = await db.pool.query(
      `SELECT count(*)::int AS n FROM health_scores WHERE user_id = $1 AND claimed_by IS NULL`,
      [inactive],
    );
    expect(rows[0]?.n).toBe(2);
  });

  it("reads the scores from fromUserId on, whichever way Postgres joins them to the users", async () => {
    const plans = await withTransaction(db.pool, async (client) => {
      // The join Postgres chose with statistics of a table of stale scores (bench:health).
      await client.query("SET LOCAL enable_nestloop = off");
      await client.query("SET LOCAL enable_hashjoin = off");
      const explained = explainingQueryable(client);
      await claimStaleScores(explained.db, options({ fromUserId: users[1] as string }));
      return explained.plans;
    });
    const scores = plans[0]?.find((n) => n["Index Name"] === "health_scores_user_id_computed_at_idx");
    expect(plans[0]?.some((n) => n["Node Type"] === "Merge Join")).toBe(true);
    expect(scores?.["Index Cond"]).toMatch(/user_id >= /);
  });

  it("claims at most `limit` scores, in user order", async () => {
    await db.pool.query(
      `UPDATE health_scores SET claimed_until = NULL, claimed_by = NULL, last_attempt_at = NULL`,
    );
    const first = await claimStaleScores(db.pool, options({ limit: 3 }));
    expect(first).toHaveLength(3);
    expect(usersOf(first)).toEqual(users.slice(0, 2));
  });
});

describe("findUnscored", () => {
  let db: TestDatabase;
  /** Contacts in id order; the first 97% are scored. */
  let contacts: string[];
  const scored = 19_400;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.pool.query(
      `INSERT INTO users (id, email, last_active_at)
       SELECT gen_random_uuid(), 'u' || i || '@example.test', now() FROM generate_series(1, 2000) i`,
    );
    await db.pool.query(
      `INSERT INTO contacts (id, user_id, email)
       SELECT gen_random_uuid(), u.id, 'c' || j || u.email FROM users u, generate_series(1, 10) j`,
    );
    const { rows } = await db.pool.query<{ id: string }>("SELECT id FROM contacts ORDER BY id");
    contacts = rows.map((r) => r.id);
    await db.pool.query(
      `INSERT INTO health_scores (subject_type, subject_id, user_id, score, status, components,
         inputs_from, inputs_to, inputs_as_of)
       SELECT 'contact', id, user_id, 50, 'at_risk', '[]', now(), now(), now() FROM contacts WHERE id <= $1`,
      [contacts[scored - 1]],
    );
    // Statistics that say almost every contact is scored, as autovacuum gathers them.
    await db.pool.query("ANALYZE users, contacts, health_scores");
  });

  afterAll(async () => {
    await db?.drop();
  });

  const page = { kind: "contact", limit: 500, activeWindowMs: 7 * 86_400_000 } as const;

  it("pages through the unscored subjects in id order", async () => {
    const after = contacts[scored - 1] as string;
    const found = await findUnscored(db.pool, { ...page, after });
    expect(found.map((f) => f.subjectId)).toEqual(contacts.slice(scored, scored + 500));
    expect(await findUnscored(db.pool, { ...page, after: contacts.at(-1) as string })).toEqual([]);
  });

  it("looks each subject up in the scores' key even when statistics say most are scored", async () => {
    const explained = explainingQueryable(db.pool);
    await findUnscored(explained.db, { ...page, after: contacts[scored - 1] as string });
    const onScores = explained.plans[0]?.filter((n) => n["Relation Name"] === "health_scores");
    expect(onScores?.map((n) => n["Node Type"])).toEqual(["Index Only Scan"]);
  });
});
