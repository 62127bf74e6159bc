// The score write on a real database: the newer input wins whatever the order of arrival, history
// keeps one row per change, an announcement goes to the outbox only with a stored change, a
// deleted subject is no error, and one bad subject in a batch leaves the others scored.
import { randomUUID } from "node:crypto";
import { createEvent } from "@syncwell/contracts";
import { createLogger } from "@syncwell/telemetry";
import { createTestDatabase, type TestDatabase, waitForLockWait } from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configSchema, scoringSettings } from "../config.ts";
import { shouldAnnounce } from "../domain/score.ts";
import { HealthScoring } from "../engine/scoring.ts";
import { openDealsOfContacts, type ScoreWrite, writeScore, writeScores } from "./scores.repository.ts";

describe("writeScore", () => {
  let db: TestDatabase;
  let userId: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    userId = randomUUID();
    await db.pool.query(`INSERT INTO users (id, email) VALUES ($1, $2)`, [userId, `${userId}@example.test`]);
  });

  afterAll(async () => {
    await db?.drop();
  });

  async function newContact(): Promise<string> {
    const id = randomUUID();
    await db.pool.query(`INSERT INTO contacts (id, user_id, email) VALUES ($1, $2, $3)`, [
      id,
      userId,
      `${id}@contact.test`,
    ]);
    return id;
  }

  function score(contactId: string, value: number, asOf: number, computedAt: number): ScoreWrite {
    return {
      subjectType: "contact",
      subjectId: contactId,
      userId,
      score: value,
      status: value >= 70 ? "healthy" : "critical",
      components: [],
      inputsFrom: new Date(asOf - 1000),
      inputsTo: new Date(asOf),
      inputsAsOf: new Date(asOf),
      computedAt: new Date(computedAt),
    };
  }

  const announceAlways = (write: ScoreWrite) => () =>
    createEvent(
      "health.changed",
      {
        subjectKind: "contact",
        subjectId: write.subjectId,
        userId,
        previousStatus: null,
        status: write.status as "healthy",
        score: write.score,
        previousScore: null,
        components: {},
        reason: "test",
      },
      { source: "test" },
    );

  async function rows(contactId: string) {
    const current = await db.pool.query(`SELECT score FROM health_scores WHERE subject_id = $1`, [contactId]);
    const history = await db.pool.query(`SELECT 1 FROM health_score_history WHERE subject_id = $1`, [
      contactId,
    ]);
    const outbox = await db.pool.query(
      `SELECT 1 FROM outbox_events WHERE payload -> 'data' ->> 'subjectId' = $1`,
      [contactId],
    );
    return { score: current.rows[0]?.score, history: history.rowCount, outbox: outbox.rowCount };
  }

  it("announces a score drifting in small steps once it has moved past the threshold from the last announced one", async () => {
    const contactId = await newContact();
    const t = Date.parse("2026-12-02T10:00:00Z");
    const seen: Array<number | null> = [];
    // The scorer's rule with a threshold of 10, recording the baseline it was given.
    const announceOnMove = (write: ScoreWrite) => (previous: { score: number; status: string } | null) => {
      seen.push(previous?.score ?? null);
      return shouldAnnounce(previous, { score: write.score, status: write.status }, 10)
        ? announceAlways(write)()
        : null;
    };
    const steps = [
      [40, true],
      [46, false],
      [52, true],
      [58, false],
      [61, false],
      [63, true],
    ] as const;
    const batched = new Set([2, 3]);
    for (const [i, [value, announced]] of steps.entries()) {
      const write = { ...score(contactId, value, t + i * 60_000, t + i * 60_000 + 1), status: "critical" };
      // Two of the steps go through the batch write: both paths keep the same baseline.
      const outcome = batched.has(i)
        ? (await writeScores(db.pool, [write], (w, previous) => announceOnMove(w)(previous)))[0]
        : await writeScore(db.pool, write, announceOnMove(write));
      expect(outcome, `step ${i} (${value})`).toMatchObject({ written: true, announced });
    }
    // Each step compared with the last announced score: 40, 40, then 52 from the third on.
    expect(seen).toEqual([null, 40, 40, 52, 52, 52]);
    expect(await rows(contactId)).toMatchObject({ score: 63, outbox: 3 });
  });

  it("keeps the score of the newer inputs when an older one arrives later", async () => {
    const contactId = await newContact();
    const t = Date.parse("2026-12-01T10:00:00Z");
    const newer = score(contactId, 80, t + 60_000, t + 61_000);
    expect(await writeScore(db.pool, newer, announceAlways(newer))).toEqual({
      written: true,
      changed: true,
      announced: true,
    });
    const older = score(contactId, 20, t, t + 120_000);
    expect(await writeScore(db.pool, older, announceAlways(older))).toEqual({
      written: false,
      reason: "older",
    });
    expect(await rows(contactId)).toEqual({ score: 80, history: 1, outbox: 1 });

    // The same inputs computed later: stored, no history, and nothing announced when not asked.
    const again = score(contactId, 80, t + 60_000, t + 180_000);
    expect(await writeScore(db.pool, again, () => null)).toEqual({
      written: true,
      changed: false,
      announced: false,
    });
    expect(await rows(contactId)).toEqual({ score: 80, history: 1, outbox: 1 });
  });

  it("reports a deleted subject as gone, and a batch goes on past a subject that fails", async () => {
    const contactId = await newContact();
    await db.pool.query(`DELETE FROM contacts WHERE id = $1`, [contactId]);
    const write = score(contactId, 50, Date.now(), Date.now());
    expect(await writeScore(db.pool, write, () => null)).toEqual({ written: false, reason: "gone" });

    const scoring = new HealthScoring(
      db.pool,
      scoringSettings(configSchema.parse({ DATABASE_URL: "postgresql://x" })),
      createLogger({ service: "health-scorer-test", level: "silent" }),
    );
    const good = await newContact();
    const errors: string[] = [];
    const counts = await scoring.scoreBatch(
      [
        { subjectType: "contact", subjectId: "not-a-uuid" },
        { subjectType: "contact", subjectId: good },
      ],
      { onError: (subject) => errors.push(subject.subjectId) },
    );
    expect(counts).toMatchObject({ refreshed: 1, changed: 1, errors: 1 });
    expect(errors).toEqual(["not-a-uuid"]);
    expect((await rows(good)).score).toBeTypeOf("number");
  });
  it("keeps the newer score when two replicas write one subject at once, the older waiting behind it", async () => {
    const contactId = await newContact();
    const t = Date.parse("2026-12-04T10:00:00Z");
    await writeScore(db.pool, score(contactId, 50, t, t), () => null);
    // Both writers read the stored score while a third session holds it: each must decide on the
    // score as the other left it, not as both first saw it.
    const holder = await db.pool.connect();
    try {
      await holder.query("BEGIN");
      await holder.query("SELECT 1 FROM health_scores WHERE subject_id = $1 FOR UPDATE", [contactId]);
      const newer = writeScore(db.pool, score(contactId, 80, t + 60_000, t + 61_000), () => null);
      await waitForLockWait(db, "the newer write to wait");
      const older = writeScore(db.pool, score(contactId, 20, t + 30_000, t + 62_000), () => null);
      await waitForLockWait(db, "both writes to wait", 2);
      await holder.query("COMMIT");
      expect(await newer).toMatchObject({ written: true, changed: true });
      expect(await older).toEqual({ written: false, reason: "older" });
    } finally {
      holder.release();
    }
    expect(await rows(contactId)).toMatchObject({ score: 80, history: 2 });
  });

  it("reports a subject deleted while its score is written as gone, and stores nothing for it", async () => {
    const contactId = await newContact();
    const t = Date.now();
    await writeScore(db.pool, score(contactId, 40, t, t), () => null);
    // The deletion takes the score with it (its trigger) and holds both until it commits: the write
    // has seen the score, and finds it gone once the deletion lets it lock the row.
    const deleting = await db.pool.connect();
    try {
      await deleting.query("BEGIN");
      await deleting.query("DELETE FROM contacts WHERE id = $1", [contactId]);
      const outcome = writeScore(db.pool, score(contactId, 90, t + 1000, t + 1000), () => null);
      await waitForLockWait(db, "the write to wait for the deletion");
      await deleting.query("COMMIT");
      expect(await outcome).toEqual({ written: false, reason: "gone" });
    } finally {
      deleting.release();
    }
    expect(await rows(contactId)).toEqual({ score: undefined, history: 0, outbox: 0 });
  });

  it("treats writes expected to be first scores (firstScores) as any other when some have a score by now", async () => {
    const [scored, fresh, gone] = [await newContact(), await newContact(), await newContact()];
    const t = Date.parse("2026-12-03T10:00:00Z");
    await writeScore(db.pool, score(scored, 30, t, t), () => null);
    await db.pool.query(`DELETE FROM contacts WHERE id = $1`, [gone]);
    const outcomes = await writeScores(
      db.pool,
      [score(scored, 90, t + 1000, t + 1000), score(fresh, 60, t, t), score(gone, 50, t, t)],
      () => null,
      { firstScores: true },
    );
    expect(outcomes).toEqual([
      { written: true, changed: true, announced: false },
      { written: true, changed: true, announced: false },
      { written: false, reason: "gone" },
    ]);
    expect(await rows(scored)).toEqual({ score: 90, history: 2, outbox: 0 });
    expect(await rows(fresh)).toEqual({ score: 60, history: 1, outbox: 0 });
  });

  it("finds the open deals of contacts, each once with its first contact, not the closed ones", async () => {
    const [a, b, c, other] = [await newContact(), await newContact(), await newContact(), await newContact()];
    const deal = async (status: string, contacts: string[]) => {
      const id = randomUUID();
      await db.pool.query(
        `INSERT INTO deals (id, user_id, name, stage, status, closed_at)
         VALUES ($1, $2, 'Renewal', 'proposal', $3, CASE WHEN $3 = 'open' THEN NULL ELSE now() END)`,
        [id, userId, status],
      );
      for (const contact of contacts)
        await db.pool.query("INSERT INTO deal_contacts (deal_id, contact_id) VALUES ($1, $2)", [id, contact]);
      return id;
    };
    const open = await deal("open", [a, b]);
    const alsoOpen = await deal("open", [c, other]);
    await deal("won", [a]);
    const found = await openDealsOfContacts(db.pool, [b, a, c, a]);
    const first = [a, b].sort()[0];
    expect(found.sort((x, y) => (x.dealId < y.dealId ? -1 : 1))).toEqual(
      [
        { dealId: open, contactId: first },
        { dealId: alsoOpen, contactId: c },
      ].sort((x, y) => (x.dealId < y.dealId ? -1 : 1)),
    );
    expect(await openDealsOfContacts(db.pool, [])).toEqual([]);
  });

  it("writes a batch in one transaction: new, newer, older and gone subjects each get their outcome", async () => {
    const [a, b, c, d] = [await newContact(), await newContact(), await newContact(), await newContact()];
    const t = Date.parse("2026-12-02T10:00:00Z");
    await writeScore(db.pool, score(a, 30, t, t), () => null);
    await writeScore(db.pool, score(d, 90, t + 60_000, t + 60_000), () => null);
    await db.pool.query(`DELETE FROM contacts WHERE id = $1`, [c]);
    const announced: string[] = [];
    // Components with quotes and a backslash: they go in as JSON inside an array parameter.
    const explained = (write: ScoreWrite): ScoreWrite => ({
      ...write,
      components: [{ name: "recency", value: 3, weight: 1, score: 0.9, detail: `"${write.score}" \\ days` }],
    });
    const outcomes = await writeScores(
      db.pool,
      [
        explained(score(a, 80, t + 1000, t + 1000)),
        explained(score(b, 75, t, t)),
        score(c, 50, t, t),
        score(d, 10, t, t + 120_000),
      ],
      (write, previous) => {
        announced.push(`${write.subjectId}:${previous?.score ?? "none"}`);
        return announceAlways(write)();
      },
    );
    expect(outcomes).toEqual([
      { written: true, changed: true, announced: true },
      { written: true, changed: true, announced: true },
      { written: false, reason: "gone" },
      { written: false, reason: "older" },
    ]);
    expect(announced).toEqual([`${a}:30`, `${b}:none`]);
    expect(await rows(a)).toEqual({ score: 80, history: 2, outbox: 1 });
    expect(await rows(b)).toEqual({ score: 75, history: 1, outbox: 1 });
    expect(await rows(d)).toEqual({ score: 90, history: 1, outbox: 0 });
    // Each history row written with its score: the move it records and the components behind it.
    const history = await db.pool.query(
      `SELECT score, previous_score, previous_status, components FROM health_score_history
       WHERE subject_id = $1 ORDER BY computed_at`,
      [a],
    );
    expect(history.rows).toEqual([
      { score: 30, previous_score: null, previous_status: null, components: [] },
      {
        score: 80,
        previous_score: 30,
        previous_status: "critical",
        components: explained(score(a, 80, t, t)).components,
      },
    ]);
    const first = await db.pool.query(
      `SELECT score, previous_score, previous_status, components FROM health_score_history WHERE subject_id = $1`,
      [b],
    );
    expect(first.rows).toEqual([
      {
        score: 75,
        previous_score: null,
        previous_status: null,
        components: explained(score(b, 75, t, t)).components,
      },
    ]);

    // One bad row (a score out of 0-100) fails the whole batch: nothing of it is stored.
    await expect(
      writeScores(db.pool, [score(a, 60, t + 2000, t + 2000), score(b, 101, t + 2000, t + 2000)], () => null),
    ).rejects.toThrow(/health_scores_score_check|out of range/);
    expect((await rows(a)).score).toBe(80);
  });
});
