// The health scorer's tables (migration 20261208000000_health_scores): deals and their contacts,
// scores and their history, and what only the SQL carries: the status scales of health.changed,
// the other CHECKs, one user per deal and its contacts, and the triggers that relate a score to its
// subject (a connection, a contact or a deal), including against a concurrent delete.

import { randomUUID } from "node:crypto";
import { healthStatuses } from "@syncwell/contracts";
import { createTestDatabase, type TestDatabase } from "@syncwell/testing";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PrismaClient } from "./generated/prisma/client.ts";
import { createPrismaClient } from "./prisma.ts";

let db: TestDatabase;
let prisma: PrismaClient;

beforeAll(async () => {
  db = await createTestDatabase();
  prisma = createPrismaClient(db.url);
});

afterAll(async () => {
  await prisma?.$disconnect();
  await db?.drop();
});

type Owner = { userId: string; connectionId: string; contactId: string; dealId: string };

/** A user with one connection, one contact and one open deal. */
async function owner(): Promise<Owner> {
  const ids = {
    userId: randomUUID(),
    connectionId: randomUUID(),
    contactId: randomUUID(),
    dealId: randomUUID(),
  };
  await db.pool.query("INSERT INTO users (id, email) VALUES ($1, $2)", [
    ids.userId,
    `${ids.userId}@example.com`,
  ]);
  await db.pool.query("INSERT INTO connections (id, user_id, provider) VALUES ($1, $2, 'google')", [
    ids.connectionId,
    ids.userId,
  ]);
  await db.pool.query("INSERT INTO contacts (id, user_id, email) VALUES ($1, $2, $3)", [
    ids.contactId,
    ids.userId,
    `${ids.contactId}@example.com`,
  ]);
  await db.pool.query("INSERT INTO deals (id, user_id, name, stage) VALUES ($1, $2, 'Renewal', 'proposal')", [
    ids.dealId,
    ids.userId,
  ]);
  return ids;
}

type ScoreRow = { type: string; subjectId: string; userId: string; score?: number; status?: string };

/** Inserts scores, or updates them when newer (as the scorer writes them), with a history row each. */
function writeScores(q: pg.Pool | pg.PoolClient, rows: ScoreRow[], components: unknown = { recency: 0.5 }) {
  return q.query(
    `WITH input AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(type text, "subjectId" uuid, "userId" uuid, score int, status text)
     ), written AS (
       INSERT INTO health_scores (subject_type, subject_id, user_id, score, status, components, inputs_from, inputs_to, inputs_as_of)
       SELECT type, "subjectId", "userId", coalesce(score, 80), coalesce(status, 'healthy'), $2::jsonb,
              now() - interval '90 days', now(), now()
       FROM input
       ON CONFLICT (subject_type, subject_id) DO UPDATE
         SET score = EXCLUDED.score, status = EXCLUDED.status, components = EXCLUDED.components,
             inputs_as_of = EXCLUDED.inputs_as_of, computed_at = now()
         WHERE health_scores.inputs_as_of < EXCLUDED.inputs_as_of
       RETURNING subject_type, subject_id, user_id, score, status, components
     )
     INSERT INTO health_score_history (id, subject_type, subject_id, user_id, score, status, components)
     SELECT gen_random_uuid(), subject_type, subject_id, user_id, score, status, components FROM written`,
    [JSON.stringify(rows), JSON.stringify(components)],
  );
}

const subjectsOf = (o: Owner): ScoreRow[] => [
  { type: "connection", subjectId: o.connectionId, userId: o.userId },
  { type: "contact", subjectId: o.contactId, userId: o.userId },
  { type: "deal", subjectId: o.dealId, userId: o.userId },
];

async function countOf(table: "health_scores" | "health_score_history", subjectId: string): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ${table} WHERE subject_id = $1`,
    [subjectId],
  );
  return rows[0]?.n ?? 0;
}

/** The SQLSTATE and constraint a statement failed with ("ok" when it did not fail). */
const failure = (statement: Promise<unknown>) =>
  statement.then(
    () => "ok",
    (err: pg.DatabaseError) => `${err.code} ${err.constraint}`,
  );

describe("deals", () => {
  it("are written through Prisma Client with their contacts, defaults and amount", async () => {
    const o = await owner();
    const deal = await prisma.deal.create({
      data: {
        userId: o.userId,
        externalId: "crm-42",
        name: "Expansion",
        stage: "negotiation",
        amount: "12500.5",
        currency: "EUR",
        contacts: { create: [{ contactId: o.contactId }] },
      },
      include: { contacts: true },
    });
    expect(deal).toMatchObject({ status: "open", closedAt: null, expectedCloseAt: null, currency: "EUR" });
    expect(deal.amount?.toString()).toBe("12500.5");
    expect(deal.stageEnteredAt).toBeInstanceOf(Date);
    expect(deal.contacts).toEqual([expect.objectContaining({ contactId: o.contactId })]);

    const byExternalId = await prisma.deal.findUnique({
      where: { userId_externalId: { userId: o.userId, externalId: "crm-42" } },
    });
    expect(byExternalId?.id).toBe(deal.id);
    await expect(
      prisma.deal.create({ data: { userId: o.userId, externalId: "crm-42", name: "Copy", stage: "lead" } }),
    ).rejects.toMatchObject({ code: "P2002" });

    const contact = await prisma.contact.update({
      where: { id: o.contactId },
      data: { externalId: "crm-c-7" },
    });
    expect(contact.externalId).toBe("crm-c-7");
  });

  it("never link another user's contact", async () => {
    const [a, b] = [await owner(), await owner()];
    const link = (dealId: string, contactId: string) =>
      failure(
        db.pool.query("INSERT INTO deal_contacts (deal_id, contact_id) VALUES ($1, $2)", [dealId, contactId]),
      );
    expect(await link(a.dealId, b.contactId)).toBe("23514 deal_contacts_owner_check");
    expect(await link(randomUUID(), a.contactId)).toBe("23503 deal_contacts_deal_id_fkey");
    expect(await link(a.dealId, randomUUID())).toBe("23503 deal_contacts_contact_id_fkey");
    expect(await link(a.dealId, a.contactId)).toBe("ok");
    expect(
      await failure(
        db.pool.query("UPDATE deal_contacts SET contact_id = $1 WHERE deal_id = $2", [b.contactId, a.dealId]),
      ),
    ).toBe("23514 deal_contacts_owner_check");

    await db.pool.query("DELETE FROM contacts WHERE id = $1", [a.contactId]);
    const { rows } = await db.pool.query("SELECT 1 FROM deal_contacts WHERE deal_id = $1", [a.dealId]);
    expect(rows).toEqual([]);
  });

  it("refuse values the CHECK constraints exclude", async () => {
    const o = await owner();
    const insert = (columns: string, values: string) =>
      failure(
        db.pool.query(`INSERT INTO deals (id, user_id, ${columns}) VALUES ($1, $2, ${values})`, [
          randomUUID(),
          o.userId,
        ]),
      );
    expect(await insert("name, stage, status, closed_at", "'A', 'lead', 'paused', now()")).toBe(
      "23514 deals_status_check",
    );
    expect(await insert("name, stage, status", "'A', 'lead', 'won'")).toBe("23514 deals_closed_at_check");
    expect(await insert("name, stage, closed_at", "'A', 'lead', now()")).toBe("23514 deals_closed_at_check");
    expect(await insert("name, stage, amount", "'A', 'lead', 10")).toBe("23514 deals_amount_check");
    expect(await insert("name, stage, amount, currency", "'A', 'lead', -1, 'EUR'")).toBe(
      "23514 deals_amount_check",
    );
    expect(await insert("name, stage, amount, currency", "'A', 'lead', 1, 'eur'")).toBe(
      "23514 deals_amount_check",
    );
    expect(await insert("name, stage", "'  ', 'lead'")).toBe("23514 deals_text_check");
    expect(await insert("name, stage, external_id", "'A', 'lead', ''")).toBe("23514 deals_text_check");
    expect(await insert("name, stage, status, closed_at", "'A', 'lead', 'lost', now()")).toBe("ok");
    expect(await insert("name, stage, amount, currency", "'A', 'lead', 0, 'JPY'")).toBe("ok");
    expect(await insert("name, stage, expected_close_at", "'A', 'lead', now()")).toBe(
      "23514 deals_original_expected_close_at_check",
    );
    expect(await insert("name, stage, original_expected_close_at", "'A', 'lead', now()")).toBe(
      "23514 deals_original_expected_close_at_check",
    );
    expect(
      await insert("name, stage, expected_close_at, original_expected_close_at", "'A', 'lead', now(), now()"),
    ).toBe("ok");
    expect(
      await failure(db.pool.query("UPDATE contacts SET external_id = '' WHERE id = $1", [o.contactId])),
    ).toBe("23514 contacts_external_id_check");
  });
});

describe("health scores", () => {
  it("accept exactly the status scales of health.changed", async () => {
    const kinds = Object.keys(healthStatuses) as (keyof typeof healthStatuses)[];
    const every = [...new Set(kinds.flatMap((kind) => [...healthStatuses[kind]])), "unknown"];
    for (const kind of [...kinds, "user"]) {
      const { rows } = await db.pool.query<{ status: string; ok: boolean }>(
        "SELECT s AS status, health_status_in_scale($1, s) AS ok FROM unnest($2::text[]) s",
        [kind, every],
      );
      const scale: readonly string[] =
        kind in healthStatuses ? healthStatuses[kind as keyof typeof healthStatuses] : [];
      expect(
        rows
          .filter((r) => r.ok)
          .map((r) => r.status)
          .sort(),
        kind,
      ).toEqual([...scale].sort());
    }
  });

  it("keep the newest input, with one history row per change", async () => {
    const o = await owner();
    const inputsAsOf = (sql: string) =>
      db.pool.query(`UPDATE health_scores SET inputs_as_of = ${sql} WHERE subject_id = $1`, [o.contactId]);
    await writeScores(db.pool, subjectsOf(o));
    await inputsAsOf("now() - interval '1 minute'");
    await writeScores(db.pool, [
      { type: "contact", subjectId: o.contactId, userId: o.userId, score: 30, status: "at_risk" },
    ]);
    // An older input arriving later changes nothing.
    await inputsAsOf("now() + interval '1 hour'");
    await writeScores(db.pool, [
      { type: "contact", subjectId: o.contactId, userId: o.userId, score: 10, status: "ghost" },
    ]);

    const score = await prisma.healthScore.findUniqueOrThrow({
      where: { subjectType_subjectId: { subjectType: "contact", subjectId: o.contactId } },
      include: { history: { orderBy: { computedAt: "desc" } } },
    });
    expect(score).toMatchObject({
      score: 30,
      status: "at_risk",
      components: { recency: 0.5 },
      claimedBy: null,
    });
    expect(score.history.map((h) => h.score).sort()).toEqual([30, 80]);
    expect(await countOf("health_scores", o.connectionId)).toBe(1);
    expect(await countOf("health_scores", o.dealId)).toBe(1);
  });

  it("refuse values the CHECK constraints exclude", async () => {
    const o = await owner();
    const contact = (score: number, status: string) => [
      { type: "contact", subjectId: o.contactId, userId: o.userId, score, status },
    ];
    expect(await failure(writeScores(db.pool, contact(101, "healthy")))).toBe(
      "23514 health_scores_score_check",
    );
    expect(await failure(writeScores(db.pool, contact(50, "stalled")))).toBe(
      "23514 health_scores_status_check",
    );
    expect(await failure(writeScores(db.pool, contact(50, "healthy"), 0.5))).toBe(
      "23514 health_scores_components_check",
    );
    expect(await failure(writeScores(db.pool, contact(50, "healthy"), null))).toBe(
      "23514 health_scores_components_check",
    );
    expect(
      await failure(writeScores(db.pool, [{ type: "user", subjectId: o.userId, userId: o.userId }])),
    ).toBe("23514 health_scores_subject_type_check");

    await writeScores(db.pool, contact(50, "healthy"));
    const history = (columns: string, values: string) =>
      failure(
        db.pool.query(
          `INSERT INTO health_score_history (id, subject_type, subject_id, user_id, components, ${columns})
           VALUES ($1, 'contact', $2, $3, '{}', ${values})`,
          [randomUUID(), o.contactId, o.userId],
        ),
      );
    expect(
      await history("score, status, previous_score, previous_status", "50, 'healthy', 50, 'healthy'"),
    ).toBe("23514 health_score_history_change_check");
    expect(await history("score, status, previous_score", "50, 'healthy', 40")).toBe(
      "23514 health_score_history_previous_check",
    );
    expect(
      await history("score, status, previous_score, previous_status", "50, 'healthy', 40, 'warning'"),
    ).toBe("23514 health_score_history_status_check");
    expect(
      await history("score, status, previous_score, previous_status", "50, 'healthy', 40, 'at_risk'"),
    ).toBe("ok");
  });

  it("belong to an existing subject of their user, which never changes", async () => {
    const [a, b] = [await owner(), await owner()];
    const fkey = "23503 health_scores_subject_fkey";
    for (const subject of subjectsOf(b)) {
      expect(await failure(writeScores(db.pool, [{ ...subject, userId: a.userId }])), subject.type).toBe(
        fkey,
      );
    }
    expect(
      await failure(writeScores(db.pool, [{ type: "deal", subjectId: randomUUID(), userId: a.userId }])),
    ).toBe(fkey);
    // One bad subject fails the statement: nothing of it is written.
    expect(
      await failure(
        writeScores(db.pool, [
          ...subjectsOf(a),
          { type: "contact", subjectId: b.contactId, userId: a.userId },
        ]),
      ),
    ).toBe(fkey);
    expect(await countOf("health_scores", a.contactId)).toBe(0);

    await writeScores(db.pool, subjectsOf(a));
    expect(
      await failure(
        db.pool.query("UPDATE health_scores SET user_id = $1 WHERE subject_id = $2", [b.userId, a.dealId]),
      ),
    ).toBe("23503 health_scores_subject_fkey");
    expect(
      await failure(
        db.pool.query("UPDATE health_scores SET subject_id = $1 WHERE subject_id = $2", [
          a.contactId,
          a.dealId,
        ]),
      ),
    ).toBe("23503 health_scores_subject_fkey");
  });

  it("go with their subject, history included, and with their user", async () => {
    const o = await owner();
    await writeScores(db.pool, subjectsOf(o));
    await db.pool.query("DELETE FROM contacts WHERE id = $1", [o.contactId]);
    await db.pool.query("DELETE FROM deals WHERE id = $1", [o.dealId]);
    for (const id of [o.contactId, o.dealId]) {
      expect(await countOf("health_scores", id)).toBe(0);
      expect(await countOf("health_score_history", id)).toBe(0);
    }
    expect(await countOf("health_scores", o.connectionId)).toBe(1);
    await db.pool.query("DELETE FROM connections WHERE id = $1", [o.connectionId]);
    expect(await countOf("health_scores", o.connectionId)).toBe(0);

    const other = await owner();
    await writeScores(db.pool, subjectsOf(other));
    await prisma.user.delete({ where: { id: other.userId } });
    const { rows } = await db.pool.query<{ n: number }>(
      `SELECT (SELECT count(*) FROM health_scores WHERE user_id = $1)
            + (SELECT count(*) FROM health_score_history WHERE user_id = $1)
            + (SELECT count(*) FROM deals WHERE user_id = $1) AS n`,
      [other.userId],
    );
    expect(Number(rows[0]?.n)).toBe(0);
  });

  it("hold a subject's delete until the insert that checked it commits, which then takes the score", async () => {
    const o = await owner();
    const inserting = await db.pool.connect();
    const deleting = await db.pool.connect();
    try {
      await inserting.query("BEGIN");
      await writeScores(inserting, [{ type: "contact", subjectId: o.contactId, userId: o.userId }]);
      let deleted = false;
      const deletion = deleting.query("DELETE FROM contacts WHERE id = $1", [o.contactId]).then(() => {
        deleted = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(deleted).toBe(false); // held by the check's lock on the contact
      await inserting.query("COMMIT");
      await deletion;
      expect(await countOf("health_scores", o.contactId)).toBe(0);
      expect(await countOf("health_score_history", o.contactId)).toBe(0);
    } finally {
      inserting.release();
      deleting.release();
    }
  });

  it("let a writer that locks its subjects first skip one deleted under it", async () => {
    const o = await owner();
    const deleting = await db.pool.connect();
    try {
      await deleting.query("BEGIN");
      await deleting.query("DELETE FROM contacts WHERE id = $1", [o.contactId]);
      const write = db.pool.query(
        `WITH live AS (SELECT id FROM contacts WHERE id = ANY($1::uuid[]) AND user_id = $2 FOR KEY SHARE)
         INSERT INTO health_scores (subject_type, subject_id, user_id, score, status, components, inputs_from, inputs_to, inputs_as_of)
         SELECT 'contact', id, $2, 50, 'healthy', '{}', now(), now(), now() FROM live`,
        [[o.contactId], o.userId],
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      await deleting.query("COMMIT");
      expect((await write).rowCount).toBe(0);
    } finally {
      deleting.release();
    }
  });
});
