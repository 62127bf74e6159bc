import { randomUUID } from "node:crypto";
import { createTestDatabase, type TestDatabase } from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUser, startTestApi, type TestApi } from "../testing/api.ts";
import type { ContactView } from "./contact-view.ts";
import type { HealthView } from "./get-health.route.ts";

let db: TestDatabase;
let api: TestApi;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db.pool);
});

afterAll(async () => {
  await api?.close();
  await db?.drop();
});

const components = {
  recency: { score: 0.5, weight: 0.25, value: 30, detail: "30 days since the last interaction" },
};

/** A contact's score and `changes` history rows, oldest first, as the scorer writes them. */
async function scoreContact(
  userId: string,
  contactId: string,
  changes: Array<[number, string]>,
): Promise<void> {
  const [score, status] = changes.at(-1) ?? [0, "critical"];
  await db.pool.query(
    `INSERT INTO health_scores (subject_type, subject_id, user_id, score, status, components, inputs_from, inputs_to, inputs_as_of)
     VALUES ('contact', $1, $2, $3, $4, $5, '2026-09-01T00:00:00Z', '2026-12-01T00:00:00Z', '2026-11-30T12:00:00Z')`,
    [contactId, userId, score, status, JSON.stringify(components)],
  );
  let previous: [number, string] | undefined;
  for (const [i, [s, st]] of changes.entries()) {
    await db.pool.query(
      `INSERT INTO health_score_history (id, subject_type, subject_id, user_id, score, status, previous_score, previous_status, components, computed_at)
       VALUES ($1, 'contact', $2, $3, $4, $5, $6, $7, $8, now() - make_interval(days => $9))`,
      [
        randomUUID(),
        contactId,
        userId,
        s,
        st,
        previous?.[0] ?? null,
        previous?.[1] ?? null,
        JSON.stringify(components),
        changes.length - i,
      ],
    );
    previous = [s, st];
  }
}

async function newContact(userId: string, email: string): Promise<ContactView> {
  const res = await api.call({ method: "POST", url: `/v1/users/${userId}/contacts`, payload: { email } });
  expect(res.statusCode).toBe(201);
  return res.json<ContactView>();
}

describe("health read", () => {
  it("answers the current score with its components, window and the latest changes, newest first", async () => {
    const userId = await createUser(db.pool);
    const contact = await newContact(userId, "scored@x.org");
    await scoreContact(userId, contact.id, [
      [90, "healthy"],
      [60, "at_risk"],
      [30, "critical"],
    ]);
    const url = `/v1/users/${userId}/health/contact/${contact.id}`;
    const res = await api.call({ method: "GET", url: `${url}?history=2` });
    expect(res.statusCode).toBe(200);
    const view = res.json<HealthView>();
    expect(view).toMatchObject({
      subjectType: "contact",
      subjectId: contact.id,
      userId,
      score: 30,
      status: "critical",
      components,
      window: { from: "2026-09-01T00:00:00.000Z", to: "2026-12-01T00:00:00.000Z" },
      inputsAsOf: "2026-11-30T12:00:00.000Z",
    });
    expect(view.history.map((h) => [h.score, h.previousScore])).toEqual([
      [30, 60],
      [60, 90],
    ]);
    const all = (await api.call({ method: "GET", url })).json<HealthView>();
    expect(all.history).toHaveLength(3);
    expect((await api.call({ method: "GET", url: `${url}?history=0` })).json<HealthView>().history).toEqual(
      [],
    );
  });

  it("is a 404 before the first score, for an unknown subject and under another user", async () => {
    const userId = await createUser(db.pool);
    const other = await createUser(db.pool);
    const unscored = await newContact(userId, "new@x.org");
    const scored = await newContact(userId, "old@x.org");
    await scoreContact(userId, scored.id, [[80, "healthy"]]);
    for (const url of [
      `/v1/users/${userId}/health/contact/${unscored.id}`,
      `/v1/users/${userId}/health/deal/${scored.id}`,
      `/v1/users/${userId}/health/contact/${randomUUID()}`,
      `/v1/users/${other}/health/contact/${scored.id}`,
    ]) {
      const res = await api.call({ method: "GET", url });
      expect(res.statusCode, url).toBe(404);
      expect(res.body).not.toContain("healthy");
    }
  });

  it("answers 400 naming the bad subject type, id and history", async () => {
    const res = await api.call({
      method: "GET",
      url: `/v1/users/${randomUUID()}/health/person/42?history=1000`,
    });
    expect(res.statusCode).toBe(400);
    const paths = res.json<{ details: Array<{ path: string }> }>().details.map((d) => d.path);
    expect(paths).toEqual(
      expect.arrayContaining(["params.subjectType", "params.subjectId", "query.history"]),
    );
  });
});

describe("activity", () => {
  it("records users.last_active_at as now, never moving it back; an unknown user is a 404", async () => {
    const userId = await createUser(db.pool);
    const before = Date.now();
    const res = await api.call({ method: "POST", url: `/v1/users/${userId}/activity` });
    expect(res.statusCode).toBe(200);
    const { rows } = await db.pool.query("SELECT last_active_at FROM users WHERE id = $1", [userId]);
    const stored = (rows[0].last_active_at as Date).getTime();
    expect(stored).toBeGreaterThanOrEqual(before - 5);
    expect(res.json()).toEqual({ userId, lastActiveAt: new Date(stored).toISOString() });

    await db.pool.query("UPDATE users SET last_active_at = now() + interval '1 hour' WHERE id = $1", [
      userId,
    ]);
    const later = await api.call({ method: "POST", url: `/v1/users/${userId}/activity` });
    expect(Date.parse(later.json().lastActiveAt)).toBeGreaterThan(Date.now() + 30 * 60_000);

    expect((await api.call({ method: "POST", url: `/v1/users/${randomUUID()}/activity` })).statusCode).toBe(
      404,
    );
  });

  it("takes no body but `{}` and no query, naming what it got", async () => {
    const userId = await createUser(db.pool);
    const url = `/v1/users/${userId}/activity`;
    expect((await api.call({ method: "POST", url, payload: {} })).statusCode).toBe(200);
    const res = await api.call({ method: "POST", url: `${url}?at=yesterday`, payload: { lastActiveAt: 1 } });
    expect(res.statusCode).toBe(400);
    expect(res.body).toMatch(/query/);
    expect(res.body).toMatch(/lastActiveAt/);
    const path = await api.call({ method: "POST", url: "/v1/users/someone/activity", payload: [] });
    expect(path.statusCode).toBe(400);
    expect(path.body).toMatch(/userId/);
  });
});
