import { randomUUID } from "node:crypto";
import { createTestDatabase, type TestDatabase } from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUser, startTestApi, type TestApi } from "../testing/api.ts";
import type { BulkResponse } from "./bulk-results.ts";
import type { ContactView } from "./contact-view.ts";
import type { Page } from "./http.ts";

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

const contactsUrl = (userId: string) => `/v1/users/${userId}/contacts`;

async function createContact(userId: string, body: Record<string, unknown>): Promise<ContactView> {
  const res = await api.call({ method: "POST", url: contactsUrl(userId), payload: body });
  expect(res.statusCode, res.body).toBe(201);
  return res.json<ContactView>();
}

describe("contacts", () => {
  it("creates a contact with its email normalised as the poller matches it, and reads it back", async () => {
    const userId = await createUser(db.pool);
    const created = await createContact(userId, {
      email: '"Ada Lovelace" <Ada@Example.COM>',
      name: "  Ada Lovelace ",
      externalId: "crm-1",
    });
    expect(created).toMatchObject({
      userId,
      email: "ada@example.com",
      name: "Ada Lovelace",
      externalId: "crm-1",
    });

    const res = await api.call({ method: "GET", url: `${contactsUrl(userId)}/${created.id}` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(created);
    const { rows } = await db.pool.query("SELECT email FROM contacts WHERE id = $1", [created.id]);
    expect(rows[0].email).toBe("ada@example.com");
  });

  it("refuses a second contact with the same email or external id (409 naming the first), and an unknown user (404)", async () => {
    const userId = await createUser(db.pool);
    const first = await createContact(userId, { email: "bob@x.org", externalId: "crm-bob" });
    const sameEmail = await api.call({
      method: "POST",
      url: contactsUrl(userId),
      payload: { email: "BOB@x.org" },
    });
    expect(sameEmail.statusCode).toBe(409);
    expect(sameEmail.json()).toMatchObject({ error: "email_taken", contactId: first.id });
    const sameKey = await api.call({
      method: "POST",
      url: contactsUrl(userId),
      payload: { email: "other@x.org", externalId: "crm-bob" },
    });
    expect(sameKey.statusCode).toBe(409);
    expect(sameKey.json()).toMatchObject({ error: "external_id_taken", contactId: first.id });

    const unknownUser = await api.call({
      method: "POST",
      url: contactsUrl(randomUUID()),
      payload: { email: "a@x.org" },
    });
    expect(unknownUser.statusCode).toBe(404);
    expect(unknownUser.json()).toMatchObject({ error: "not_found" });
  });

  it("updates only the fields given, clears with null, and refuses an email another contact holds", async () => {
    const userId = await createUser(db.pool);
    const carol = await createContact(userId, { email: "carol@x.org", name: "Carol", externalId: "c-1" });
    await createContact(userId, { email: "dave@x.org" });
    const url = `${contactsUrl(userId)}/${carol.id}`;

    const renamed = await api.call({
      method: "PATCH",
      url,
      payload: { email: "mailto:Carol.New@X.org", externalId: null },
    });
    expect(renamed.statusCode).toBe(200);
    expect(renamed.json()).toMatchObject({ email: "carol.new@x.org", name: "Carol", externalId: null });

    const taken = await api.call({ method: "PATCH", url, payload: { email: "dave@x.org" } });
    expect(taken.statusCode).toBe(409);
    expect(taken.json()).toMatchObject({ error: "email_taken" });

    const empty = await api.call({ method: "PATCH", url, payload: {} });
    expect(empty.statusCode).toBe(400);

    const unknown = await api.call({
      method: "PATCH",
      url: `${contactsUrl(userId)}/${randomUUID()}`,
      payload: { name: "X" },
    });
    expect(unknown.statusCode).toBe(404);
  });

  it("deletes a contact (204), then answers 404 for it", async () => {
    const userId = await createUser(db.pool);
    const eve = await createContact(userId, { email: "eve@x.org" });
    const url = `${contactsUrl(userId)}/${eve.id}`;
    expect((await api.call({ method: "DELETE", url })).statusCode).toBe(204);
    expect((await api.call({ method: "DELETE", url })).statusCode).toBe(404);
    expect((await api.call({ method: "GET", url })).statusCode).toBe(404);
  });

  it("lists every contact once, in a stable order, page by page until next is null", async () => {
    const userId = await createUser(db.pool);
    const emails = Array.from({ length: 7 }, (_, i) => `p${String(i).padStart(2, "0")}@x.org`).reverse();
    for (const email of emails) await createContact(userId, { email });
    const other = await createUser(db.pool);
    await createContact(other, { email: "p00@x.org" });

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor === null ? "?limit=3" : `?limit=3&cursor=${cursor}`;
      const res = await api.call({ method: "GET", url: `${contactsUrl(userId)}${query}` });
      expect(res.statusCode).toBe(200);
      const page = res.json<Page<ContactView>>();
      expect(page.items.every((item) => item.userId === userId)).toBe(true);
      seen.push(...page.items.map((item) => item.email));
      cursor = page.next;
      pages += 1;
    } while (cursor !== null && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual([...emails].sort());

    const bad = await api.call({ method: "GET", url: `${contactsUrl(userId)}?limit=0&cursor=nope` });
    expect(bad.statusCode).toBe(400);
    const paths = bad.json<{ details: Array<{ path: string }> }>().details.map((d) => d.path);
    expect(paths).toEqual(expect.arrayContaining(["query.limit", "query.cursor"]));

    expect((await api.call({ method: "GET", url: contactsUrl(randomUUID()) })).statusCode).toBe(404);
  });
});

describe("contacts bulk upsert", () => {
  it("creates, then on the same call again changes nothing; changed items are updated", async () => {
    const userId = await createUser(db.pool);
    const url = `${contactsUrl(userId)}:bulk-upsert`;
    const items = Array.from({ length: 5 }, (_, i) => ({
      externalId: `e-${i}`,
      email: `Bulk${i}@X.org`,
      name: `N${i}`,
    }));

    const first = await api.call({ method: "POST", url, payload: { items } });
    expect(first.statusCode).toBe(200);
    const created = first.json<BulkResponse>();
    expect(created.counts).toEqual({ created: 5, updated: 0, unchanged: 0, error: 0 });
    const before = await db.pool.query(
      "SELECT id, email, name, updated_at FROM contacts WHERE user_id = $1 ORDER BY id",
      [userId],
    );
    expect(before.rows.map((r) => r.email)).toEqual(items.map((i) => i.email.toLowerCase()));

    const again = (await api.call({ method: "POST", url, payload: { items } })).json<BulkResponse>();
    expect(again.counts).toEqual({ created: 0, updated: 0, unchanged: 5, error: 0 });
    expect(again.results.map((r) => r.status === "error" || r.id)).toEqual(
      created.results.map((r) => r.status === "error" || r.id),
    );
    const after = await db.pool.query(
      "SELECT id, email, name, updated_at FROM contacts WHERE user_id = $1 ORDER BY id",
      [userId],
    );
    expect(after.rows).toEqual(before.rows);

    const changed = items.map((item, i) => (i === 2 ? { ...item, name: "Renamed" } : item));
    const third = (await api.call({ method: "POST", url, payload: { items: changed } })).json<BulkResponse>();
    expect(third.counts).toEqual({ created: 0, updated: 1, unchanged: 4, error: 0 });
    expect(third.results[2]).toMatchObject({ index: 2, status: "updated", externalId: "e-2" });
  });

  it("applies the valid items and answers each bad one with its located errors", async () => {
    const userId = await createUser(db.pool);
    const taken = await createContact(userId, { email: "taken@x.org" });
    const url = `${contactsUrl(userId)}:bulk-upsert`;
    const items = [
      { externalId: "ok-1", email: "ok1@x.org" },
      { externalId: "", email: "not an email" },
      { externalId: "ok-1", email: "dup@x.org" },
      { externalId: "t-1", email: "TAKEN@x.org" },
      { externalId: "ok-2", email: "ok2@x.org", extra: true },
      "not an object",
      { externalId: "ok-3", email: "ok3@x.org", name: null },
    ];
    const res = await api.call({ method: "POST", url, payload: { items } });
    expect(res.statusCode).toBe(200);
    const body = res.json<BulkResponse>();
    expect(body.counts).toEqual({ created: 2, updated: 0, unchanged: 0, error: 5 });
    const byIndex = (i: number) => body.results.find((r) => r.index === i);
    expect(byIndex(0)).toMatchObject({ status: "created", externalId: "ok-1" });
    expect(byIndex(1)).toMatchObject({ status: "error", error: "bad_request" });
    const paths1 = byIndex(1)?.status === "error" ? byIndex(1) : undefined;
    expect(paths1 && "details" in paths1 ? paths1.details.map((d) => d.path) : []).toEqual(
      expect.arrayContaining(["body.items.1.externalId", "body.items.1.email"]),
    );
    expect(byIndex(2)).toMatchObject({
      status: "error",
      error: "duplicate_item",
      details: [{ path: "body.items.2.externalId" }],
    });
    expect(byIndex(3)).toMatchObject({
      status: "error",
      error: "email_taken",
      details: [{ path: "body.items.3.email", message: `belongs to contact ${taken.id}` }],
    });
    expect(byIndex(4)).toMatchObject({ status: "error", details: [{ path: "body.items.4.extra" }] });
    expect(byIndex(5)).toMatchObject({ status: "error", details: [{ path: "body.items.5" }] });
    expect(byIndex(6)).toMatchObject({ status: "created", externalId: "ok-3" });
    const { rows } = await db.pool.query(
      "SELECT external_id FROM contacts WHERE user_id = $1 AND external_id IS NOT NULL ORDER BY 1",
      [userId],
    );
    expect(rows.map((r) => r.external_id)).toEqual(["ok-1", "ok-3"]);
  });

  it("refuses more than 1,000 items whole (413) and an empty or missing list (400)", async () => {
    const userId = await createUser(db.pool);
    const url = `${contactsUrl(userId)}:bulk-upsert`;
    const items = Array.from({ length: 1001 }, (_, i) => ({ externalId: `x${i}`, email: `x${i}@x.org` }));
    const res = await api.call({ method: "POST", url, payload: { items } });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ error: "payload_too_large", details: [{ path: "body.items" }] });
    const { rows } = await db.pool.query("SELECT count(*)::int AS n FROM contacts WHERE user_id = $1", [
      userId,
    ]);
    expect(rows[0].n).toBe(0);

    const full = await api.call({ method: "POST", url, payload: { items: items.slice(0, 1000) } });
    expect(full.statusCode).toBe(200);
    expect(full.json<BulkResponse>().counts.created).toBe(1000);

    for (const payload of [{ items: [] }, {}, { items: "x" }]) {
      const bad = await api.call({ method: "POST", url, payload });
      expect(bad.statusCode).toBe(400);
      expect(bad.json()).toMatchObject({ details: [{ path: "body.items" }] });
    }
  });
});
