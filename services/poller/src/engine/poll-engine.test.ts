// The poll engine against a real Postgres and a real HTTP platform (a small fake API with scripted
// faults): storage and counts, cursors and pagination, resets, crashes between pages, tokens,
// failures, communication events.
import { randomBytes, randomUUID } from "node:crypto";
import { databaseNow } from "@syncwell/db";
import { createTestDatabase, type TestDatabase } from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Connector, SyncPosition } from "../adapters/connectors/connector.ts";
import { type FakeConnectorOptions, FakePlatform, fakeConnector, items } from "../testing/fake-platform.ts";
import {
  addContact,
  createConnection,
  createUser,
  type IngestedData,
  makeDue,
  outboxEvents,
  storedRecords,
  syncState,
  testCipher,
  testEngine,
} from "../testing/fixtures.ts";
import type { PollEngine } from "./poll-engine.ts";
import type { PollSettings } from "./settings.ts";

let db: TestDatabase;
const cipher = testCipher();
const platforms: FakePlatform[] = [];

beforeAll(async () => {
  db = await createTestDatabase({ poolMax: 20 });
});

afterAll(async () => {
  await Promise.all(platforms.map((p) => p.close()));
  await db?.drop();
});

/**
 * A platform of this test's own: a fake API, its connector, and connections that carry a scope only
 * this test's connector asks for, so the tests of this file never poll each other's connections.
 */
async function setup(options: Partial<FakeConnectorOptions> = {}) {
  const name = `p${randomBytes(4).toString("hex")}`;
  const platform = await new FakePlatform(name).start();
  platforms.push(platform);
  const connector = fakeConnector({
    platform: name,
    provider: "github",
    baseUrl: platform.url,
    requiredScopes: [name],
    ...options,
  });
  const connect = async (
    token: string,
    extra: { userId?: string; expiresAt?: Date | null; expiresNever?: boolean; userEmail?: string } = {},
  ) => {
    const userId = extra.userId ?? (await createUser(db.pool, extra.userEmail));
    const id = await createConnection(db.pool, cipher, {
      userId,
      provider: "github",
      accessToken: token,
      scopes: [name],
      ...(extra.expiresAt !== undefined ? { expiresAt: extra.expiresAt } : {}),
      ...(extra.expiresNever ? { expiresNever: true } : {}),
    });
    return { id, userId };
  };
  const engine = (settings: Partial<PollSettings> = {}, extra: { perSec?: number; burst?: number } = {}) =>
    testEngine(db.pool, [{ connector, ...extra }], { settings });
  return { name, platform, connector, connect, engine };
}

function token(): string {
  return `tok-${randomBytes(8).toString("hex")}`;
}

async function ingested(connectionId: string): Promise<IngestedData[]> {
  return (await outboxEvents<IngestedData>(db.pool, "data.ingested", connectionId)).map((e) => e.data);
}

describe("storage, cursors and pagination", () => {
  it("first sync stores every page, then polls incrementally from the cursor", async () => {
    const t = await setup({ pageSize: 10 });
    const tok = token();
    t.platform.setItems(tok, items("a", 25));
    const conn = await t.connect(tok);
    const engine = t.engine();

    const first = await engine.run();
    expect(first).toMatchObject({ polled: 1, failed: 0, records_added: 25, connections: 1 });
    expect(t.platform.requestsFor(tok).map((r) => r.query.page ?? "0")).toEqual(["0", "10", "20"]);
    expect(await storedRecords(db.pool, conn.id)).toHaveLength(25);
    const state = await syncState(db.pool, conn.id, t.name);
    expect(state).toMatchObject({
      cursor: "25",
      page_token: null,
      consecutive_failures: 0,
      claimed_by: null,
    });
    expect(state?.next_poll_at.getTime()).toBeGreaterThan(Date.now() + 29 * 60_000);
    const [event] = await ingested(conn.id);
    expect(event).toMatchObject({
      resource: `${t.name}.items`,
      provider: "github",
      counts: { added: 25, updated: 0, unchanged: 0, deleted: 0 },
      cursor: "25",
      fullSync: true,
    });

    // Not due again: nothing happens.
    expect(await engine.run()).toMatchObject({ polled: 0 });

    t.platform.setItems(tok, [
      { id: "a-0003", title: "changed" },
      { id: "b-0001", title: "new" },
    ]);
    await makeDue(db.pool, conn.id);
    const second = await engine.run();
    expect(second).toMatchObject({ polled: 1, records_added: 1, records_updated: 1 });
    expect(t.platform.requestsFor(tok).at(-1)?.query).toMatchObject({ since: "25" });
    const events = await ingested(conn.id);
    expect(events).toHaveLength(2);
    expect(events[1]).toMatchObject({
      counts: { added: 1, updated: 1, unchanged: 0, deleted: 0 },
      cursor: "27",
      fullSync: false,
    });
    const records = await storedRecords(db.pool, conn.id);
    expect(records).toHaveLength(26);
    expect(records.find((r) => r.external_id === "a-0003")?.payload.title).toBe("changed");
    const synced = await db.pool.query("SELECT last_synced_at FROM connections WHERE id = $1", [conn.id]);
    expect(synced.rows[0].last_synced_at).toBeInstanceOf(Date);
  });

  it("tells unchanged from updated by content hash, whatever the key order", async () => {
    const t = await setup();
    const tok = token();
    t.platform.setItems(tok, items("u", 3));
    const conn = await t.connect(tok);
    const engine = t.engine();
    await engine.run();
    // Same content, keys in another order, plus one real change; then a full listing again.
    t.platform.setItems(tok, [{ title: "item 1", id: "u-0001" } as never, { id: "u-0002", title: "edited" }]);
    await db.pool.query(
      "UPDATE sync_states SET cursor = NULL, next_poll_at = now() WHERE connection_id = $1",
      [conn.id],
    );
    const summary = await engine.run();
    expect(summary).toMatchObject({ records_added: 0, records_updated: 1, records_unchanged: 2 });
    expect((await ingested(conn.id)).at(-1)?.counts).toEqual({
      added: 0,
      updated: 1,
      unchanged: 2,
      deleted: 0,
    });
    // The hash is the one the content-hash migration computes for records stored before it.
    const { rows } = await db.pool.query<{ hash: string; expected: string }>(
      `SELECT content_hash AS hash, lpad(to_hex(jsonb_hash_extended(payload, 0)), 16, '0') AS expected
       FROM raw_records WHERE connection_id = $1`,
      [conn.id],
    );
    expect(rows).toHaveLength(3);
    for (const row of rows) expect(row.hash).toMatch(/^[0-9a-f]{16}$/);
    for (const row of rows) expect(row.hash).toBe(row.expected);
  });

  it("a rejected cursor restarts as a full listing and marks what disappeared as deleted", async () => {
    const t = await setup({ pageSize: 4 });
    const tok = token();
    t.platform.setItems(tok, items("r", 6));
    const conn = await t.connect(tok);
    const engine = t.engine();
    await engine.run();

    t.platform.deleteItem(tok, "r-0002");
    t.platform.deleteItem(tok, "r-0005");
    t.platform.setItems(tok, [{ id: "r-0007", title: "new" }]);
    t.platform.expireCursors(tok);
    await makeDue(db.pool, conn.id);
    const summary = await engine.run();
    expect(summary).toMatchObject({ polled: 1, records_added: 1, records_unchanged: 4, records_deleted: 2 });

    const statuses = t.platform
      .requestsFor(tok)
      .slice(-3)
      .map((r) => [r.query.since ?? null, r.status]);
    expect(statuses).toEqual([
      ["6", 410],
      [null, 200],
      [null, 200],
    ]);
    const records = await storedRecords(db.pool, conn.id);
    expect(records.filter((r) => r.deleted_at !== null).map((r) => r.external_id)).toEqual([
      "r-0002",
      "r-0005",
    ]);
    expect((await ingested(conn.id)).at(-1)).toMatchObject({
      counts: { added: 1, updated: 0, unchanged: 4, deleted: 2 },
      fullSync: true,
      cursor: "9",
    });
    expect((await syncState(db.pool, conn.id, t.name))?.cursor).toBe("9");

    // A deleted record that comes back is live again (counted as updated).
    t.platform.setItems(tok, [{ id: "r-0002", title: "item 2" }]);
    await makeDue(db.pool, conn.id);
    expect(await engine.run()).toMatchObject({ records_updated: 1 });
    expect(
      (await storedRecords(db.pool, conn.id)).find((r) => r.external_id === "r-0002")?.deleted_at,
    ).toBeNull();
  });

  it("a poll that dies between pages resumes from its page token: no gap, no duplicate", async () => {
    let crashOnPage: number | null = 3;
    const t = await setup({
      pageSize: 5,
      beforePage: (_position: SyncPosition, n: number) => {
        if (n === crashOnPage) throw new Error("simulated crash between pages");
      },
    });
    const tok = token();
    t.platform.setItems(tok, items("c", 22));
    const conn = await t.connect(tok);
    const engine = t.engine({ backoffBaseMs: 1 });

    const crashed = await engine.run();
    expect(crashed).toMatchObject({ failed: 1, polled: 0, records_added: 10 });
    const mid = await syncState(db.pool, conn.id, t.name);
    expect(mid).toMatchObject({
      page_token: "10",
      cursor: null,
      full_listing: true,
      consecutive_failures: 1,
    });
    expect(mid?.poll_counts).toMatchObject({ added: 10 });
    expect(await ingested(conn.id)).toHaveLength(0);

    crashOnPage = null;
    await makeDue(db.pool, conn.id);
    const resumed = await engine.run();
    expect(resumed).toMatchObject({ polled: 1, records_added: 12 });
    // Pages 1 and 2 were not fetched again.
    expect(t.platform.requestsFor(tok).map((r) => r.query.page ?? "0")).toEqual(["0", "5", "10", "15", "20"]);
    const records = await storedRecords(db.pool, conn.id);
    expect(records.map((r) => r.external_id)).toEqual(items("c", 22).map((i) => i.id));
    expect(records.every((r) => r.deleted_at === null)).toBe(true);
    // The event covers the whole poll, pages from before the crash included.
    expect(await ingested(conn.id)).toEqual([
      expect.objectContaining({
        counts: { added: 22, updated: 0, unchanged: 0, deleted: 0 },
        cursor: "22",
        fullSync: true,
      }),
    ]);
    expect(await syncState(db.pool, conn.id, t.name)).toMatchObject({
      consecutive_failures: 0,
      page_token: null,
    });
  });

  it("yields after the page budget and continues from the page token in the same run", async () => {
    const t = await setup({ pageSize: 2 });
    const tok = token();
    t.platform.setItems(tok, items("y", 9));
    const conn = await t.connect(tok);
    const summary = await t.engine({ maxPagesPerPoll: 2 }).run();
    expect(summary).toMatchObject({ polled: 1, skipped: 2, records_added: 9 });
    expect(await ingested(conn.id)).toEqual([
      expect.objectContaining({ counts: expect.objectContaining({ added: 9 }) }),
    ]);
  });
});

describe("scopes", () => {
  it("pauses a resource its connection no longer grants, keeps what it stored, and resumes it when granted again", async () => {
    const t = await setup();
    const tok = token();
    t.platform.setItems(tok, items("s", 2));
    const conn = await t.connect(tok);
    const otherTok = token();
    t.platform.setItems(otherTok, items("o", 1));
    const other = await t.connect(otherTok);
    const engine = t.engine();
    expect(await engine.run()).toMatchObject({ polled: 2, records_added: 3 });

    // The users narrowed their grants: the connections keep another scope only.
    await db.pool.query("UPDATE connections SET scopes = ARRAY['other'] WHERE id = ANY($1)", [
      [conn.id, other.id],
    ]);
    await makeDue(db.pool, conn.id);
    await makeDue(db.pool, other.id);
    const requestsBefore = t.platform.requestsFor(tok).length;
    expect(await engine.run()).toMatchObject({ polled: 0, skipped: 2, failed: 0 });
    expect(t.platform.requestsFor(tok)).toHaveLength(requestsBefore);
    expect(await syncState(db.pool, conn.id, t.name)).toMatchObject({
      status: "paused",
      paused_reason: "scope_missing",
      last_error: `the connection no longer has any of the scopes ${t.name}`,
      consecutive_failures: 0,
      claimed_by: null,
    });
    expect(await storedRecords(db.pool, conn.id)).toHaveLength(2);
    await makeDue(db.pool, conn.id);
    expect(await engine.run()).toMatchObject({ polled: 0, skipped: 0, failed: 0 });
    expect(t.platform.requestsFor(tok)).toHaveLength(requestsBefore);

    // Granted again. A re-authorization publishes token.refreshed, whose prompt poll of that
    // connection resumes it and polls it from its cursor at once; the other connection waits.
    t.platform.setItems(tok, [{ id: "s-0003", title: "new" }]);
    await db.pool.query("UPDATE connections SET scopes = ARRAY['other', $2] WHERE id = ANY($1)", [
      [conn.id, other.id],
      t.name,
    ]);
    expect(await engine.run({ connectionId: conn.id, linger: false })).toMatchObject({
      polled: 1,
      records_added: 1,
      records_unchanged: 0,
    });
    expect(await syncState(db.pool, conn.id, t.name)).toMatchObject({
      status: "active",
      paused_reason: null,
    });
    expect(await storedRecords(db.pool, conn.id)).toHaveLength(3);
    expect(await syncState(db.pool, other.id, t.name)).toMatchObject({ status: "paused" });
    // The next tick's run resumes every resource whose scopes are back.
    expect(await engine.run()).toMatchObject({ polled: 1, records_added: 0 });
    expect(await syncState(db.pool, other.id, t.name)).toMatchObject({ status: "active" });
  });
});

describe("tokens", () => {
  it("leaves a connection whose token expires too soon to wait for its refresh", async () => {
    const t = await setup();
    const tok = token();
    t.platform.setItems(tok, items("e", 2));
    const conn = await t.connect(tok, { expiresAt: new Date(Date.now() + 60_000) });
    const expired = await t.connect(token(), { expiresAt: new Date(Date.now() - 60_000) });
    const engine = t.engine();
    expect(await engine.run()).toMatchObject({ polled: 0, skipped: 0 });
    expect(t.platform.requests).toHaveLength(0);
    expect((await syncState(db.pool, conn.id, t.name))?.next_poll_at.getTime()).toBeLessThanOrEqual(
      Date.now(),
    );

    // The refresh arrives (token.refreshed moves the expiry): polled.
    await db.pool.query(
      "UPDATE connections SET access_token_expires_at = now() + interval '1 hour' WHERE id = $1",
      [conn.id],
    );
    expect(await engine.run({ connectionId: conn.id, linger: false })).toMatchObject({ polled: 1 });
    expect(await syncState(db.pool, expired.id, t.name)).toMatchObject({ last_polled_at: null });
  });

  it("never sends a request with a token that would expire during it; the poll waits at a page boundary", async () => {
    const t = await setup({ pageSize: 1 });
    const tok = token();
    t.platform.setItems(tok, items("x", 6));
    t.platform.latencyMs = 400;
    // Starts with 3.5 s left (more than the 0.5 s timeout + 2 s margin), stops before one request could outlive it.
    const expiresAt = new Date(Date.now() + 3_500);
    const conn = await t.connect(tok, { expiresAt });
    const requestTimeoutMs = 500;
    const summary = await t.engine({ minTokenValidityMs: 1_000, requestTimeoutMs }).run();
    expect(summary).toMatchObject({ polled: 0, skipped: 1 });
    const sent = t.platform.requestsFor(tok);
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.length).toBeLessThan(6);
    for (const request of sent) expect(request.at).toBeLessThan(expiresAt.getTime() - requestTimeoutMs);
    const state = await syncState(db.pool, conn.id, t.name);
    expect(state).toMatchObject({
      page_token: String(sent.length),
      consecutive_failures: 0,
      claimed_by: null,
    });
  });

  it("a 401 asks the token service for a refresh and is not counted as a failure", async () => {
    const t = await setup();
    const tok = token();
    t.platform.setItems(tok, items("z", 1));
    const conn = await t.connect(tok);
    t.platform.addFault({ token: tok, status: 401 });
    const summary = await t.engine().run();
    expect(summary).toMatchObject({ failed: 0, skipped: 1, refresh_requested: 1 });
    const state = await syncState(db.pool, conn.id, t.name);
    expect(state).toMatchObject({ consecutive_failures: 0, last_error_kind: "unauthorized" });
    expect(state?.next_poll_at.getTime()).toBeGreaterThan(Date.now() + 9 * 60_000);
    const requested = await outboxEvents<{
      connectionId: string;
      userId: string;
      provider: string;
      reason: string;
    }>(db.pool, "token.refresh-requested", conn.id);
    expect(requested).toHaveLength(1);
    expect(requested[0]?.data).toMatchObject({ userId: conn.userId, provider: "github" });
    expect(requested[0]?.data.reason).toContain("401");
    expect(JSON.stringify(requested)).not.toContain(tok);
  });
});

describe("failures", () => {
  it("records a malformed payload as a failure with its reason, and the batch goes on", async () => {
    const t = await setup();
    const good = [token(), token()];
    const bad = token();
    for (const tok of [...good, bad]) t.platform.setItems(tok, items("m", 2));
    const conns = await Promise.all([...good, bad].map((tok) => t.connect(tok)));
    t.platform.addFault({ token: bad, body: '{"items": "not-a-list"}' });
    const summary = await t.engine().run();
    expect(summary).toMatchObject({ polled: 2, failed: 1, records_added: 4 });
    const state = await syncState(db.pool, conns[2]?.id as string, t.name);
    expect(state).toMatchObject({ consecutive_failures: 1, last_error_kind: "malformed" });
    expect(state?.last_error).toContain("items is not an array");

    // Invalid JSON is malformed too.
    const broken = token();
    t.platform.setItems(broken, items("m", 1));
    const conn = await t.connect(broken);
    t.platform.addFault({ token: broken, body: '{"items": [' });
    await t.engine().run();
    expect((await syncState(db.pool, conn.id, t.name))?.last_error).toMatch(/not JSON/);
  });

  it("backs off a failing resource with jittered exponential delays and keeps the others going", async () => {
    const t = await setup();
    const flaky = token();
    const fine = token();
    t.platform.setItems(flaky, items("f", 1));
    t.platform.setItems(fine, items("f", 1));
    const flakyConn = await t.connect(flaky);
    await t.connect(fine);
    t.platform.addFault({ token: flaky, status: 503, times: Number.POSITIVE_INFINITY });
    const engine = t.engine({ backoffBaseMs: 60_000 });
    expect(await engine.run()).toMatchObject({ polled: 1, failed: 1 });
    const delays: number[] = [];
    for (let i = 0; i < 3; i++) {
      const state = await syncState(db.pool, flakyConn.id, t.name);
      delays.push((state?.next_poll_at.getTime() ?? 0) - (state?.last_polled_at?.getTime() ?? 0));
      await makeDue(db.pool, flakyConn.id);
      await engine.run();
    }
    // Equal jitter: the n-th delay lies in [step/2, step] with step = base · 2^(n-1).
    delays.forEach((delay, i) => {
      const step = 60_000 * 2 ** i;
      expect(delay).toBeGreaterThanOrEqual(step / 2 - 5);
      expect(delay).toBeLessThanOrEqual(step + 5);
    });
    expect((await syncState(db.pool, flakyConn.id, t.name))?.consecutive_failures).toBe(4);
  });

  it("a 429 with Retry-After makes only that platform wait", async () => {
    const slow = await setup();
    const other = await setup();
    const tokA = token();
    const tokB = token();
    slow.platform.setItems(tokA, items("s", 1));
    other.platform.setItems(tokB, items("o", 1));
    const a = await slow.connect(tokA);
    const b = await other.connect(tokB);
    slow.platform.addFault({ status: 429, headers: { "retry-after": "2" } });
    const engine = testEngine(db.pool, [{ connector: slow.connector }, { connector: other.connector }], {
      settings: { runHorizonMs: 10_000 },
    });
    const started = Date.now();
    const summary = await engine.run();
    expect(summary).toMatchObject({ polled: 2, failed: 0, rate_limited: 1 });
    const [limited, retried] = slow.platform.requestsFor(tokA);
    expect(limited?.status).toBe(429);
    expect(retried?.status).toBe(200);
    expect((retried?.at ?? 0) - (limited?.at ?? 0)).toBeGreaterThanOrEqual(1_950);
    // The other platform did not wait.
    expect((other.platform.requestsFor(tokB)[0]?.at ?? Number.POSITIVE_INFINITY) - started).toBeLessThan(
      1_500,
    );
    const buckets = await db.pool.query<{ key: string; blocked_until: Date | null }>(
      "SELECT key, blocked_until FROM rate_limit_buckets WHERE key = ANY($1)",
      [[`poller:${slow.name}`, `poller:${other.name}`]],
    );
    const byKey = new Map(buckets.rows.map((r) => [r.key, r.blocked_until]));
    expect(byKey.get(`poller:${slow.name}`)).toBeInstanceOf(Date);
    expect(byKey.get(`poller:${other.name}`)).toBeNull();
    expect(await syncState(db.pool, a.id, slow.name)).toMatchObject({
      consecutive_failures: 0,
      last_error_kind: null,
    });
    expect(await syncState(db.pool, b.id, other.name)).toMatchObject({ consecutive_failures: 0 });
  });

  it("a rate limit per token (GitHub's) makes only that connection wait, not the platform", async () => {
    const t = await setup({ rateLimitedPer: "connection" });
    const tokA = token();
    const tokB = token();
    t.platform.setItems(tokA, items("a", 1));
    t.platform.setItems(tokB, items("b", 1));
    const a = await t.connect(tokA);
    const b = await t.connect(tokB);
    // GitHub's primary limit: 403 with the quota at 0 and its reset time, no Retry-After.
    const resetAt = Math.ceil(Date.now() / 1000) + 3_600;
    t.platform.addFault({
      token: tokA,
      status: 403,
      headers: { "x-ratelimit-remaining": "0", "x-ratelimit-reset": String(resetAt) },
    });
    const summary = await t.engine({ runHorizonMs: 10_000 }).run();
    expect(summary).toMatchObject({ polled: 1, failed: 0, rate_limited: 1 });
    expect(t.platform.requestsFor(tokA).map((r) => r.status)).toEqual([403]);
    expect(t.platform.requestsFor(tokB).map((r) => r.status)).toEqual([200]);
    const { rows } = await db.pool.query<{ blocked_until: Date | null }>(
      "SELECT blocked_until FROM rate_limit_buckets WHERE key = $1",
      [`poller:${t.name}`],
    );
    expect(rows[0]?.blocked_until ?? null).toBeNull();
    const limited = await syncState(db.pool, a.id, t.name);
    expect(limited).toMatchObject({ consecutive_failures: 0, last_error_kind: "rate_limited" });
    // Waits for the token's reset, about an hour.
    const waitS = ((limited?.next_poll_at.getTime() ?? 0) - Date.now()) / 1000;
    expect(waitS).toBeGreaterThan(3_500);
    expect(waitS).toBeLessThan(3_700);
    expect(await syncState(db.pool, b.id, t.name)).toMatchObject({
      consecutive_failures: 0,
      last_error_kind: null,
    });
  });
});

describe("communication events", () => {
  it("matches senders and recipients to the user's contacts, case-insensitively, once per record and contact", async () => {
    const t = await setup();
    const tok = token();
    const userId = await createUser(
      db.pool,
      "me@example.com".replace("me", `me-${randomUUID().slice(0, 8)}`),
    );
    const { rows } = await db.pool.query<{ email: string }>("SELECT email FROM users WHERE id = $1", [
      userId,
    ]);
    const me = rows[0]?.email as string;
    const ada = await addContact(db.pool, userId, "ada@example.com");
    const bob = await addContact(db.pool, userId, "Bob@Example.com");
    const carol = await addContact(db.pool, userId, "carol@example.com");
    t.platform.setItems(tok, [
      {
        id: "m1",
        title: "hi",
        kind: "email",
        from: "Ada Lovelace <ADA@Example.COM>",
        to: [me],
        at: "2026-11-20T10:00:00.123Z",
      },
      {
        id: "m2",
        title: "re",
        kind: "email",
        from: me.toUpperCase(),
        to: ["BOB@example.com", "Carol <carol@EXAMPLE.com>", "stranger@elsewhere.com"],
        at: "2026-11-20T11:00:00Z",
      },
      { id: "m3", title: "meet", kind: "meeting", from: "dave@elsewhere.com", to: ["ada@example.com", me] },
      { id: "m4", title: "fyi", kind: "email", from: "stranger@elsewhere.com", to: [me, "bob@example.com"] },
      { id: "m5", title: "standup", kind: "meeting", from: null, fromSelf: true, to: ["carol@example.com"] },
      { id: "n1", title: "not communication" },
    ]);
    const conn = await t.connect(tok, { userId });
    const engine = t.engine();
    expect(await engine.run()).toMatchObject({ polled: 1, communication_events: 5 });
    const events = await db.pool.query<{
      contact_id: string;
      channel: string;
      direction: string;
      external_id: string;
      occurred_at: Date;
    }>(
      `SELECT e.contact_id, e.channel, e.direction, r.external_id, e.occurred_at
       FROM communication_events e JOIN raw_records r ON r.id = e.raw_record_id
       WHERE e.connection_id = $1 ORDER BY r.external_id, e.contact_id`,
      [conn.id],
    );
    const got = events.rows.map((e) => [e.external_id, e.contact_id, e.channel, e.direction]);
    expect(got).toEqual(
      [
        ["m1", ada, "email", "inbound"],
        ["m2", bob, "email", "outbound"],
        ["m2", carol, "email", "outbound"],
        ["m3", ada, "meeting", "inbound"],
        ["m5", carol, "meeting", "outbound"],
      ].sort((x, y) => (`${x[0]}/${x[1]}` < `${y[0]}/${y[1]}` ? -1 : 1)),
    );
    // To the millisecond, on the event and on its record.
    expect(events.rows.find((e) => e.external_id === "m1")?.occurred_at.toISOString()).toBe(
      "2026-11-20T10:00:00.123Z",
    );
    const record = await db.pool.query<{ occurred_at: Date }>(
      "SELECT occurred_at FROM raw_records WHERE connection_id = $1 AND external_id = 'm1'",
      [conn.id],
    );
    expect(record.rows[0]?.occurred_at.toISOString()).toBe("2026-11-20T10:00:00.123Z");
    expect((await ingested(conn.id))[0]?.communicationEventsCreated).toBe(5);

    // Seen again in a full listing: nothing new.
    await db.pool.query(
      "UPDATE sync_states SET cursor = NULL, next_poll_at = now() WHERE connection_id = $1",
      [conn.id],
    );
    expect(await engine.run()).toMatchObject({ communication_events: 0, records_unchanged: 6 });
  });

  it("stores ids, addresses and payloads whatever characters they hold", async () => {
    // The page statement takes ids and addresses as Postgres array literals: quotes, backslashes,
    // braces, commas, spaces and the word NULL must all arrive as they were sent.
    const t = await setup();
    const tok = token();
    const userId = await createUser(db.pool);
    const odd = await addContact(db.pool, userId, 'o"neil\\x,{y}@example.com');
    const ids = ['say "hi"', "back\\slash", "{a,b}", "NULL", " spaced ", "ünï 😀", "a\u001fb"];
    t.platform.setItems(tok, [
      ...ids.map((id) => ({ id, title: `title of ${id} \\ "quoted" \u0001 ✓` })),
      {
        id: "mail",
        title: "hi",
        kind: "email" as const,
        from: 'O"Neil\\x,{Y}@Example.com',
        to: ["me@x.io"],
        at: "2026-11-20T10:00:00Z",
      },
    ]);
    const conn = await t.connect(tok, { userId });
    expect(await t.engine().run()).toMatchObject({ polled: 1, records_added: 8, communication_events: 1 });
    const stored = await storedRecords(db.pool, conn.id);
    expect(stored.map((r) => r.external_id).sort()).toEqual([...ids, "mail"].sort());
    for (const id of ids) {
      expect(stored.find((r) => r.external_id === id)?.payload.title).toBe(
        `title of ${id} \\ "quoted" \u0001 ✓`,
      );
    }
    const events = await db.pool.query(
      "SELECT contact_id FROM communication_events WHERE connection_id = $1",
      [conn.id],
    );
    expect(events.rows).toEqual([{ contact_id: odd }]);
  });

  it("refuses an external id holding a NUL character as malformed, storing nothing of the page", async () => {
    const t = await setup();
    const tok = token();
    t.platform.setItems(tok, [
      { id: "fine", title: "a" },
      { id: "bad\u0000id", title: "b" },
    ]);
    const conn = await t.connect(tok);
    expect(await t.engine().run()).toMatchObject({ polled: 0, failed: 1 });
    expect(await storedRecords(db.pool, conn.id)).toEqual([]);
    expect((await syncState(db.pool, conn.id, t.name))?.last_error).toMatch(/NUL/);
  });
});

describe("replicas", () => {
  it("split the due work and never exceed a platform's rate limit together", async () => {
    const t = await setup();
    const perSec = 10;
    const burst = 2;
    const conns: string[] = [];
    for (let i = 0; i < 40; i++) {
      const tok = token();
      t.platform.setItems(tok, items("q", 1));
      conns.push((await t.connect(tok)).id);
    }
    t.platform.latencyMs = 20;
    const replicas: PollEngine[] = [1, 2].map((n) =>
      testEngine(db.pool, [{ connector: t.connector as Connector, perSec, burst, concurrency: 16 }], {
        replicaId: `replica-${n}`,
      }),
    );
    const started = Date.now();
    // The replicas of one tick run from the same start (the owner's, passed on with the wake-up, as
    // pollTickRuns does): each taking its own would leave one of them unable to claim the
    // sync states the other created, due at the other's later start (the test horizon is 0).
    const startedAt = await databaseNow(db.pool, "up");
    const [one, two] = await Promise.all(replicas.map((r) => r.run({ startedAt })));
    const elapsed = Date.now() - started;
    expect((one?.polled ?? 0) + (two?.polled ?? 0)).toBe(40);
    expect(one?.polled).toBeGreaterThan(0);
    expect(two?.polled).toBeGreaterThan(0);
    expect(t.platform.requests).toHaveLength(40);
    // 40 requests at 10/s with a burst of 2: at least ~3.8 s, and no second holds more than rate + burst.
    expect(elapsed).toBeGreaterThanOrEqual(3_500);
    const times = t.platform.requests.map((r) => r.at).sort((a, b) => a - b);
    let worst = 0;
    for (let i = 0, j = 0; i < times.length; i++) {
      while ((times[i] as number) - (times[j] as number) >= 1_000) j++;
      worst = Math.max(worst, i - j + 1);
    }
    expect(worst).toBeLessThanOrEqual(perSec + burst);
    const ingestedCount = await db.pool.query(
      "SELECT count(*)::int AS n FROM outbox_events WHERE type = 'data.ingested' AND payload->'data'->>'connectionId' = ANY($1)",
      [conns],
    );
    expect(ingestedCount.rows[0].n).toBe(40);
  });
});
