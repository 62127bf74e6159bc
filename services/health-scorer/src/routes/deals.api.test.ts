import { randomUUID } from "node:crypto";
import { createTestDatabase, type TestDatabase } from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUser, startTestApi, type TestApi } from "../testing/api.ts";
import type { BulkResponse } from "./bulk-results.ts";
import type { ContactView } from "./contact-view.ts";
import type { DealView } from "./deal-fields.ts";
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

const dealsUrl = (userId: string) => `/v1/users/${userId}/deals`;

async function createDeal(userId: string, body: Record<string, unknown>): Promise<DealView> {
  const res = await api.call({ method: "POST", url: dealsUrl(userId), payload: body });
  expect(res.statusCode, res.body).toBe(201);
  return res.json<DealView>();
}

async function createContact(userId: string, email: string): Promise<ContactView> {
  const res = await api.call({ method: "POST", url: `/v1/users/${userId}/contacts`, payload: { email } });
  expect(res.statusCode).toBe(201);
  return res.json<ContactView>();
}

/** Moves a deal's stage clock back, as if it entered its stage that long ago. */
async function ageStage(dealId: string, days: number): Promise<void> {
  await db.pool.query("UPDATE deals SET stage_entered_at = now() - make_interval(days => $2) WHERE id = $1", [
    dealId,
    days,
  ]);
}

describe("deals", () => {
  it("creates a deal with its contacts, amount as exact text, and reads it back", async () => {
    const userId = await createUser(db.pool);
    const a = await createContact(userId, "a@x.org");
    const b = await createContact(userId, "b@x.org");
    const deal = await createDeal(userId, {
      name: "Big one",
      stage: "proposal",
      amount: "12000.5",
      currency: "EUR",
      expectedCloseAt: "2027-01-31T00:00:00Z",
      contactIds: [b.id, a.id, a.id],
      externalId: "d-1",
    });
    expect(deal).toMatchObject({
      userId,
      name: "Big one",
      stage: "proposal",
      status: "open",
      closedAt: null,
      amount: "12000.5",
      currency: "EUR",
      expectedCloseAt: "2027-01-31T00:00:00.000Z",
      contactIds: [a.id, b.id].sort(),
    });
    const res = await api.call({ method: "GET", url: `${dealsUrl(userId)}/${deal.id}` });
    expect(res.json()).toEqual(deal);
  });

  it("restarts the stage clock on a stage change only, closes and reopens, adds and removes contacts", async () => {
    const userId = await createUser(db.pool);
    const a = await createContact(userId, "a@x.org");
    const b = await createContact(userId, "b@x.org");
    const deal = await createDeal(userId, { name: "D", stage: "lead", contactIds: [a.id] });
    await ageStage(deal.id, 10);
    const url = `${dealsUrl(userId)}/${deal.id}`;
    const aged = (await api.call({ method: "GET", url })).json<DealView>();

    const renamed = (
      await api.call({ method: "PATCH", url, payload: { name: "D2", stage: " LEAD " } })
    ).json<DealView>();
    expect(renamed.stageEnteredAt).toBe(aged.stageEnteredAt);

    const before = Date.now();
    const moved = await api.call({
      method: "PATCH",
      url,
      payload: { stage: "qualified", addContactIds: [b.id], removeContactIds: [a.id] },
    });
    expect(moved.statusCode).toBe(200);
    const movedDeal = moved.json<DealView>();
    expect(Date.parse(movedDeal.stageEnteredAt)).toBeGreaterThanOrEqual(before - 5);
    expect(movedDeal.contactIds).toEqual([b.id]);

    const won = (await api.call({ method: "PATCH", url, payload: { status: "won" } })).json<DealView>();
    expect(won.status).toBe("won");
    expect(won.closedAt).not.toBeNull();
    const renamedWon = (await api.call({ method: "PATCH", url, payload: { name: "D3" } })).json<DealView>();
    expect(renamedWon.closedAt).toBe(won.closedAt);
    const reopened = (await api.call({ method: "PATCH", url, payload: { status: "open" } })).json<DealView>();
    expect(reopened.closedAt).toBeNull();

    const closedAtOpen = await api.call({
      method: "PATCH",
      url,
      payload: { closedAt: "2026-01-01T00:00:00Z" },
    });
    expect(closedAtOpen.statusCode).toBe(400);
    expect(closedAtOpen.json().details).toEqual([{ path: "body.closedAt", message: expect.any(String) }]);
    const amountAlone = await api.call({ method: "PATCH", url, payload: { amount: 10 } });
    expect(amountAlone.statusCode).toBe(400);
    expect(amountAlone.json().details).toEqual([{ path: "body.currency", message: expect.any(String) }]);
  });

  it("refuses another user's contact as if unknown, and leaves the deal as it was", async () => {
    const userId = await createUser(db.pool);
    const other = await createUser(db.pool);
    const theirs = await createContact(other, "theirs@x.org");
    const deal = await createDeal(userId, { name: "D", stage: "lead" });
    const url = `${dealsUrl(userId)}/${deal.id}`;
    const res = await api.call({
      method: "PATCH",
      url,
      payload: { addContactIds: [theirs.id], name: "changed" },
    });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ error: "not_found" });
    expect((await api.call({ method: "GET", url })).json()).toEqual(deal);
    const create = await api.call({
      method: "POST",
      url: dealsUrl(userId),
      payload: { name: "E", stage: "lead", contactIds: [theirs.id] },
    });
    expect(create.statusCode).toBe(404);
  });

  it("deletes (204, then 404) and lists page by page in creation order", async () => {
    const userId = await createUser(db.pool);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await createDeal(userId, { name: `D${i}`, stage: "lead" })).id);
    const gone = ids.pop() as string;
    expect((await api.call({ method: "DELETE", url: `${dealsUrl(userId)}/${gone}` })).statusCode).toBe(204);
    expect((await api.call({ method: "DELETE", url: `${dealsUrl(userId)}/${gone}` })).statusCode).toBe(404);

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await api.call({
        method: "GET",
        url: `${dealsUrl(userId)}?limit=2${cursor ? `&cursor=${cursor}` : ""}`,
      });
      const page = res.json<Page<DealView>>();
      seen.push(...page.items.map((d) => d.id));
      cursor = page.next;
    } while (cursor !== null && seen.length < 20);
    expect(seen).toEqual(ids);
  });

  it("answers 400 naming every bad field of a create", async () => {
    const userId = await createUser(db.pool);
    const res = await api.call({
      method: "POST",
      url: dealsUrl(userId),
      payload: {
        name: "",
        stage: "x".repeat(101),
        amount: "-1",
        currency: "eur",
        status: "pending",
        contactIds: ["nope"],
        extra: 1,
      },
    });
    expect(res.statusCode).toBe(400);
    const paths = res.json<{ details: Array<{ path: string }> }>().details.map((d) => d.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        "body.name",
        "body.stage",
        "body.amount",
        "body.currency",
        "body.status",
        "body.contactIds.0",
        "body.extra",
      ]),
    );

    // A rule across fields is named beside a field's own problem, not in a second round.
    const across = await api.call({
      method: "POST",
      url: dealsUrl(userId),
      payload: { name: "", stage: "lead", amount: "100", closedAt: "2026-12-01T00:00:00Z" },
    });
    expect(across.statusCode).toBe(400);
    expect(
      across
        .json<{ details: Array<{ path: string }> }>()
        .details.map((d) => d.path)
        .sort(),
    ).toEqual(["body.closedAt", "body.currency", "body.name"]);
  });
});

describe("deals bulk upsert", () => {
  it("is idempotent by externalId, restarts the stage clock on a stage change, and applies the valid items", async () => {
    const userId = await createUser(db.pool);
    const url = `${dealsUrl(userId)}:bulk-upsert`;
    const items = [
      { externalId: "x-1", name: "One", stage: "lead", amount: "100", currency: "USD" },
      { externalId: "x-2", name: "Two", stage: "proposal", status: "won", closedAt: "2026-11-01T00:00:00Z" },
    ];
    const first = (await api.call({ method: "POST", url, payload: { items } })).json<BulkResponse>();
    expect(first.counts).toEqual({ created: 2, updated: 0, unchanged: 0, error: 0 });
    const snapshot = async () =>
      (await db.pool.query("SELECT * FROM deals WHERE user_id = $1 ORDER BY external_id", [userId])).rows;
    const before = await snapshot();

    const again = (await api.call({ method: "POST", url, payload: { items } })).json<BulkResponse>();
    expect(again.counts).toEqual({ created: 0, updated: 0, unchanged: 2, error: 0 });
    expect(await snapshot()).toEqual(before);

    const first1 = first.results[0];
    await ageStage(first1?.status === "error" ? "" : (first1?.id ?? ""), 30);
    const next = [
      { ...items[0], stage: "qualified" },
      items[1],
      { externalId: "x-3", name: "", stage: "lead" },
      { externalId: "x-4", name: "Four", stage: "lead", amount: "5" },
      { externalId: "x-1", name: "dup", stage: "lead" },
    ];
    const third = (await api.call({ method: "POST", url, payload: { items: next } })).json<BulkResponse>();
    expect(third.counts).toEqual({ created: 0, updated: 1, unchanged: 1, error: 3 });
    expect(third.results[2]).toMatchObject({ status: "error", details: [{ path: "body.items.2.name" }] });
    expect(third.results[3]).toMatchObject({ status: "error", details: [{ path: "body.items.3.currency" }] });
    expect(third.results[4]).toMatchObject({ status: "error", error: "duplicate_item" });
    const { rows } = await db.pool.query(
      "SELECT stage, now() - stage_entered_at < interval '1 minute' AS fresh FROM deals WHERE user_id = $1 AND external_id = 'x-1'",
      [userId],
    );
    expect(rows).toEqual([{ stage: "qualified", fresh: true }]);
  });

  it("refuses more than 1,000 items (413) and answers another user's bulk with its own deals", async () => {
    const userId = await createUser(db.pool);
    const items = Array.from({ length: 1001 }, (_, i) => ({ externalId: `b${i}`, name: "N", stage: "lead" }));
    const res = await api.call({
      method: "POST",
      url: `${dealsUrl(userId)}:bulk-upsert`,
      payload: { items },
    });
    expect(res.statusCode).toBe(413);
    const unknown = await api.call({
      method: "POST",
      url: `${dealsUrl(randomUUID())}:bulk-upsert`,
      payload: { items: items.slice(0, 1) },
    });
    expect(unknown.statusCode).toBe(404);
  });
});
