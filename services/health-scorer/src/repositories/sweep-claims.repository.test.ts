// Claiming stale scores on a real database: users are read in id order from `fromUserId`, only
// active users' stale, unclaimed scores not yet attempted in the run are claimed, and a claim is
// not taken twice.
import { randomUUID } from "node:crypto";
import { createTestDatabase, type TestDatabase } from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { claimStaleScores, type SweepClaimOptions } from "./sweep-claims.repository.ts";

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

  it("claims at most `limit` scores, in user order", async () => {
    await db.pool.query(
      `UPDATE health_scores SET claimed_until = NULL, claimed_by = NULL, last_attempt_at = NULL`,
    );
    const first = await claimStaleScores(db.pool, options({ limit: 3 }));
    expect(first).toHaveLength(3);
    expect(usersOf(first)).toEqual(users.slice(0, 2));
  });
});
