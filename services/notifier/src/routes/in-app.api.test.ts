// The in-app API on the running notifier (real Postgres and NATS): who a bearer token lets in, the
// list with its filters and cursor, the unread count, marking read, and that no user ever reads
// or changes another user's notifications.
import { randomUUID } from "node:crypto";
import { type RunningServiceOf, runService } from "@syncwell/service";
import {
  createTestDatabase,
  createTestNats,
  type TestDatabase,
  type TestNats,
  testServiceOptions,
} from "@syncwell/testing";
import type { InjectOptions } from "fastify";
import { generateKeyPair } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { notifierService } from "../service.ts";
import {
  createUser,
  SECRET_A,
  SECRET_B,
  type SigningKeys,
  signingKeys,
  storeNotification,
  tokenFor,
  unsignedToken,
} from "../testing/in-app.ts";
import type { NotificationView } from "./notification-view.ts";

let db: TestDatabase;
let nats: TestNats;
let keys: SigningKeys;
let service: RunningServiceOf<typeof notifierService>;
const seen: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  nats = createTestNats("notifier-api");
  keys = await signingKeys();
  service = await runService(notifierService, await testServiceOptions(db, nats, keys.env));
});

afterAll(async () => {
  await service?.stop("test done");
  await nats?.cleanup();
  await db?.drop();
});

async function call(token: string | null, options: InjectOptions) {
  const res = await service.app.inject({
    ...options,
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
  });
  seen.push(res.body, JSON.stringify(res.headers));
  return res;
}

type Page = { items: NotificationView[]; next: string | null };

describe("bearer tokens", () => {
  let userId: string;
  beforeAll(async () => {
    userId = await createUser(db.pool);
  });

  it("accepts HS256 with either configured secret (a rotation), by kid or without one, and ES256", async () => {
    const tokens = [
      await tokenFor(userId),
      await tokenFor(userId, { kid: "b", key: new TextEncoder().encode(SECRET_B) }),
      await tokenFor(userId, { kid: null, key: new TextEncoder().encode(SECRET_B) }),
      await tokenFor(userId, { alg: "ES256", kid: "es-1", key: keys.es256.privateKey }),
    ];
    for (const token of tokens) {
      const res = await call(token, { method: "GET", url: "/v1/notifications/unread-count" });
      expect(res.statusCode, token).toBe(200);
      expect(res.json()).toEqual({ unread: 0 });
    }
  });

  it("refuses a missing, expired, foreign-audience, wrongly signed or unsigned token with a 401 saying why", async () => {
    const other = await generateKeyPair("ES256");
    const cases: [string | null, RegExp][] = [
      [null, /a bearer token is required/],
      ["not-a-jwt", /not a valid signed JWT/],
      [await tokenFor(userId, { expiresIn: -60 }), /has expired/],
      [await tokenFor(userId, { audience: "another-api" }), /aud claim/],
      [await tokenFor(userId, { key: new TextEncoder().encode("x".repeat(40)) }), /signature is not valid/],
      [await tokenFor(userId, { kid: null, key: new TextEncoder().encode("y".repeat(40)) }), /signature/],
      [await tokenFor(userId, { kid: "unknown" }), /not signed with a key this service accepts/],
      [await tokenFor(userId, { alg: "ES256", kid: "es-1", key: other.privateKey }), /signature/],
      [unsignedToken(userId), /not signed with a key this service accepts/],
      [await tokenFor("not-a-uuid"), /sub is not a user id/],
      [await tokenFor(userId, { expiresIn: null }), /exp claim/],
    ];
    for (const [token, message] of cases) {
      const res = await call(token, { method: "GET", url: "/v1/notifications" });
      expect(res.statusCode, String(token)).toBe(401);
      expect(res.json()).toMatchObject({ error: "unauthorized", message: expect.stringMatching(message) });
      expect(res.headers["www-authenticate"]).toMatch(/^Bearer realm="notifier"/);
    }
  });

  it("refuses an HS256 token signed with the ES256 public key as its secret (algorithm confusion)", async () => {
    const publicJwkText = JSON.stringify(keys.es256.publicJwk);
    const token = await tokenFor(userId, { kid: "es-1", key: new TextEncoder().encode(publicJwkText) });
    const res = await call(token, { method: "GET", url: "/v1/notifications" });
    expect(res.statusCode).toBe(401);
  });

  it("checks the token before the input: no 400 tells an anonymous caller anything", async () => {
    for (const url of ["/v1/notifications?limit=0", "/v1/notifications/not-a-uuid/read"]) {
      const res = await call(null, { method: url.endsWith("/read") ? "POST" : "GET", url });
      expect(res.statusCode, url).toBe(401);
    }
  });
});

describe("the list, the count and marking read", () => {
  let me: string;
  let token: string;
  const ids: string[] = [];

  beforeAll(async () => {
    me = await createUser(db.pool);
    token = await tokenFor(me);
    ids.push(await storeNotification(db.pool, me, { kind: "connection_warning" }));
    ids.push(await storeNotification(db.pool, me, { kind: "connection_disconnected", priority: "critical" }));
    ids.push(
      await storeNotification(db.pool, me, { kind: "health_critical", priority: "high", status: "read" }),
    );
    ids.push(await storeNotification(db.pool, me, { kind: "connection_warning", status: "resolved" }));
    ids.push(await storeNotification(db.pool, me, { kind: "health_ghost" }));
  });

  it("lists newest first, a page at a time, and the cursor reaches every one exactly once", async () => {
    const listed: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor === null ? "limit=2" : `limit=2&cursor=${cursor}`;
      const res = await call(token, { method: "GET", url: `/v1/notifications?${query}` });
      expect(res.statusCode).toBe(200);
      const page = res.json<Page>();
      expect(page.items.length).toBeLessThanOrEqual(2);
      listed.push(...page.items.map((n) => n.id));
      cursor = page.next;
    } while (cursor !== null);
    expect(listed).toEqual([...ids].reverse());
  });

  it("filters by status, kind and priority", async () => {
    const list = async (query: string) =>
      (await call(token, { method: "GET", url: `/v1/notifications?${query}` }))
        .json<Page>()
        .items.map((n) => n.id);
    expect(await list("status=unread")).toEqual([ids[4], ids[1], ids[0]]);
    expect(await list("status=read")).toEqual([ids[2]]);
    expect(await list("status=resolved")).toEqual([ids[3]]);
    expect(await list("kind=connection_warning")).toEqual([ids[3], ids[0]]);
    expect(await list("priority=critical")).toEqual([ids[1]]);
    expect(await list("kind=connection_warning&status=unread")).toEqual([ids[0]]);
    const [first] = (await call(token, { method: "GET", url: "/v1/notifications?limit=1" })).json<Page>()
      .items;
    expect(first).toMatchObject({
      id: ids[4],
      kind: "health_ghost",
      status: "unread",
      subject: { type: "connection" },
      readAt: null,
      seq: expect.stringMatching(/^\d+$/),
    });
  });

  it("answers 400 naming every bad field", async () => {
    const res = await call(token, {
      method: "GET",
      url: "/v1/notifications?status=gone&priority=urgent&limit=101&kind=Bad-Kind&cursor=zzz&color=red",
    });
    expect(res.statusCode).toBe(400);
    const paths = res.json<{ details: { path: string }[] }>().details.map((d) => d.path);
    for (const field of ["status", "priority", "limit", "kind", "cursor"])
      expect(paths).toContain(`query.${field}`);
    for (const url of ["/v1/notifications?limit=0", "/v1/notifications/not-a-uuid/read"]) {
      const bad = await call(token, { method: url.endsWith("read") ? "POST" : "GET", url });
      expect(bad.statusCode, url).toBe(400);
    }
    const badId = await call(token, { method: "POST", url: "/v1/notifications/not-a-uuid/read" });
    expect(badId.json().details).toEqual([expect.objectContaining({ path: "params.id" })]);
  });

  it("counts the unread, marks one read (twice changes nothing) and then all", async () => {
    const count = async () =>
      (await call(token, { method: "GET", url: "/v1/notifications/unread-count" })).json<{ unread: number }>()
        .unread;
    expect(await count()).toBe(3);

    const first = await call(token, { method: "POST", url: `/v1/notifications/${ids[0]}/read` });
    expect(first.statusCode).toBe(200);
    const read = first.json<NotificationView>();
    expect(read).toMatchObject({ id: ids[0], status: "read", readAt: expect.any(String) });
    expect(await count()).toBe(2);

    const again = (await call(token, { method: "POST", url: `/v1/notifications/${ids[0]}/read` })).json();
    expect(again).toEqual(read);

    // A resolved one keeps its status and gets its read time.
    const resolved = (await call(token, { method: "POST", url: `/v1/notifications/${ids[3]}/read` })).json();
    expect(resolved).toMatchObject({ status: "resolved", readAt: expect.any(String) });

    const all = await call(token, { method: "POST", url: "/v1/notifications/read-all" });
    expect(all.json()).toEqual({ marked: 2 });
    expect(await count()).toBe(0);
    expect((await call(token, { method: "POST", url: "/v1/notifications/read-all" })).json()).toEqual({
      marked: 0,
    });
  });
});

describe("one user's notifications under another user's token", () => {
  it("are never listed, counted, read or marked, and their ids are 404s like unknown ones", async () => {
    const alice = await createUser(db.pool);
    const bob = await createUser(db.pool);
    const secret = await storeNotification(db.pool, alice, { title: "Alice's secret title" });
    const bobToken = await tokenFor(bob);

    const list = await call(bobToken, { method: "GET", url: "/v1/notifications" });
    expect(list.json()).toEqual({ items: [], next: null });
    expect((await call(bobToken, { method: "GET", url: "/v1/notifications/unread-count" })).json()).toEqual({
      unread: 0,
    });
    const theirs = await call(bobToken, { method: "POST", url: `/v1/notifications/${secret}/read` });
    const unknown = await call(bobToken, { method: "POST", url: `/v1/notifications/${randomUUID()}/read` });
    expect(theirs.statusCode).toBe(404);
    expect(unknown.statusCode).toBe(404);
    expect(theirs.json().error).toBe(unknown.json().error);
    expect(theirs.body).not.toContain("secret title");
    expect((await call(bobToken, { method: "POST", url: "/v1/notifications/read-all" })).json()).toEqual({
      marked: 0,
    });

    const { rows } = await db.pool.query("SELECT status, read_at FROM notifications WHERE id = $1", [secret]);
    expect(rows).toEqual([{ status: "unread", read_at: null }]);
  });
});

it("never writes a token or a secret to a response", () => {
  const text = seen.join("\n");
  for (const secret of [SECRET_A, SECRET_B]) expect(text).not.toContain(secret);
  expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/);
});
