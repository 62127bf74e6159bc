import { randomUUID } from "node:crypto";
import { createTestDatabase, type TestDatabase } from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_KEY, createUser, NEXT_API_KEY, startTestApi, type TestApi } from "../testing/api.ts";
import type { ContactView } from "./contact-view.ts";

// Who may reach what: any of the configured keys and nothing else, and one user's ids never reach
// another user's data (an id under the wrong user is a 404, exactly as an unknown id).

let db: TestDatabase;
let api: TestApi;
let userA: string;
let userB: string;
let contactA: ContactView;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db.pool);
  userA = await createUser(db.pool);
  userB = await createUser(db.pool);
  const res = await api.call({
    method: "POST",
    url: `/v1/users/${userA}/contacts`,
    payload: { email: "a-secret-person@x.org", name: "A's contact", externalId: "crm-a" },
  });
  expect(res.statusCode).toBe(201);
  contactA = res.json<ContactView>();
});

afterAll(async () => {
  await api?.close();
  await db?.drop();
});

describe("API keys", () => {
  it("lets either of two configured keys in (a rotation), and nothing else", async () => {
    const url = `/v1/users/${userA}/contacts/${contactA.id}`;
    for (const key of [API_KEY, NEXT_API_KEY]) {
      const res = await api.call({ method: "GET", url, headers: { authorization: `Bearer ${key}` } });
      expect(res.statusCode).toBe(200);
    }
    for (const authorization of [
      "",
      "Bearer",
      `Bearer ${API_KEY}x`,
      `Bearer ${API_KEY.slice(0, -1)}`,
      `Basic ${Buffer.from(`u:${API_KEY}`).toString("base64")}`,
      `Bearer ${API_KEY},${NEXT_API_KEY}`,
    ]) {
      const res = await api.call({ method: "GET", url, headers: { authorization } });
      expect(res.statusCode, authorization).toBe(401);
      expect(res.json()).toMatchObject({ error: "unauthorized" });
      expect(res.headers["www-authenticate"]).toMatch(/^Bearer realm="health-scorer"/);
    }
  });

  it("never writes a key to a response or the log", () => {
    const seen = `${api.responsesText()}\n${api.logText()}`;
    expect(seen).not.toContain(API_KEY);
    expect(seen).not.toContain(NEXT_API_KEY);
  });
});

describe("one user's ids under another user", () => {
  it("are 404s on read, update and delete, and leave the row as it was", async () => {
    const url = `/v1/users/${userB}/contacts/${contactA.id}`;
    const unknown = `/v1/users/${userB}/contacts/${randomUUID()}`;
    const answers = [];
    for (const target of [url, unknown]) {
      answers.push(await api.call({ method: "GET", url: target }));
      answers.push(await api.call({ method: "PATCH", url: target, payload: { name: "taken over" } }));
      answers.push(await api.call({ method: "DELETE", url: target }));
    }
    for (const res of answers) {
      expect(res.statusCode).toBe(404);
      expect(res.body).not.toContain("a-secret-person");
    }
    // The wrong user's answer is the unknown id's, but for the id itself.
    expect(answers[0]?.json().error).toBe(answers[3]?.json().error);
    const mine = await api.call({ method: "GET", url: `/v1/users/${userA}/contacts/${contactA.id}` });
    expect(mine.json()).toEqual(contactA);
  });

  it("never appear in another user's list, and a bulk upsert with the same external id makes B's own contact", async () => {
    const list = await api.call({ method: "GET", url: `/v1/users/${userB}/contacts` });
    expect(list.json()).toEqual({ items: [], next: null });
    const bulk = await api.call({
      method: "POST",
      url: `/v1/users/${userB}/contacts:bulk-upsert`,
      payload: { items: [{ externalId: "crm-a", email: "a-secret-person@x.org", name: "B's" }] },
    });
    expect(bulk.statusCode).toBe(200);
    expect(bulk.json().results[0]).toMatchObject({ status: "created" });
    expect(bulk.json().results[0].id).not.toBe(contactA.id);
    const mine = await api.call({ method: "GET", url: `/v1/users/${userA}/contacts/${contactA.id}` });
    expect(mine.json()).toEqual(contactA);
  });

  it("reach no deal of another user, nor link another user's contact", async () => {
    const created = await api.call({
      method: "POST",
      url: `/v1/users/${userA}/deals`,
      payload: { name: "A's deal", stage: "lead", contactIds: [contactA.id] },
    });
    expect(created.statusCode).toBe(201);
    const dealA = created.json<{ id: string }>();
    const url = `/v1/users/${userB}/deals/${dealA.id}`;
    for (const res of [
      await api.call({ method: "GET", url }),
      await api.call({ method: "PATCH", url, payload: { stage: "won over" } }),
      await api.call({ method: "DELETE", url }),
    ]) {
      expect(res.statusCode).toBe(404);
      expect(res.body).not.toContain("A's deal");
    }
    const ownDeal = await api.call({
      method: "POST",
      url: `/v1/users/${userB}/deals`,
      payload: { name: "B", stage: "lead" },
    });
    const linkA = await api.call({
      method: "PATCH",
      url: `/v1/users/${userB}/deals/${ownDeal.json<{ id: string }>().id}`,
      payload: { addContactIds: [contactA.id] },
    });
    expect(linkA.statusCode).toBe(404);
    const mine = await api.call({ method: "GET", url: `/v1/users/${userA}/deals/${dealA.id}` });
    expect(mine.json()).toMatchObject({ name: "A's deal", stage: "lead", contactIds: [contactA.id] });
    expect((await api.call({ method: "GET", url: `/v1/users/${userB}/deals` })).json().items).toHaveLength(1);
  });
});
