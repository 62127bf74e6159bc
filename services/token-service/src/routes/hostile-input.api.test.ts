import { randomUUID } from "node:crypto";
import { createTestDatabase, rawHttp, type TestDatabase } from "@syncwell/testing";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  API_TOKEN,
  auth,
  cipherFor,
  createUser,
  randomKey,
  secretToken,
  startTestApi,
  type TestApi,
} from "../testing/fixtures.ts";
import type { ConnectionView } from "./connection-view.ts";

// The connections API under hostile input, over real HTTP against a real database: each answer is
// checked, and so is every stored row (nothing a refused request sent may change one).

const TIMEOUTS = { requestMs: 700, headersMs: 400, keepAliveMs: 1_000 };

let db: TestDatabase;
let api: TestApi;
let url: string;
let connection: ConnectionView;
let stored: string;

type Detail = { path: string; message: string };
type ErrorBody = { error: string; message: string; details?: Detail[] };

/** Every row the API can write, as text: compared before and after each hostile request. */
async function snapshot(): Promise<string> {
  const tables = ["users", "connections", "connection_idempotency_keys", "outbox_events"];
  const parts: unknown[] = [];
  for (const table of tables) {
    const { rows } = await db.pool.query(`SELECT * FROM ${table} ORDER BY 1`);
    parts.push(rows);
  }
  return JSON.stringify(parts);
}

function send(method: string, path: string, body?: unknown, headers: Record<string, string> = auth) {
  return fetch(`${url}${path}`, {
    method,
    headers: body === undefined ? headers : { ...headers, "content-type": "application/json" },
    body:
      body === undefined || typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body),
  });
}

async function expectBadRequest(res: Response, path: string, message: RegExp): Promise<void> {
  expect(res.status).toBe(400);
  const body = (await res.json()) as ErrorBody;
  expect(body.error).toBe("bad_request");
  expect(body.details).toContainEqual({ path, message: expect.stringMatching(message) });
}

function createBody(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    userId: randomUUID(),
    userEmail: `user-${randomUUID()}@example.com`,
    provider: "google",
    providerAccountId: "acct-1",
    scopes: ["email"],
    accessToken: secretToken("access"),
    expiresIn: 3600,
    ...extra,
  };
}

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db.pool, cipherFor({ k1: randomKey() }, "k1"), { timeouts: TIMEOUTS });
  url = await api.app.listen({ host: "127.0.0.1", port: 0 });
  const userId = await createUser(db.pool);
  const res = await send("POST", "/connections", createBody({ userId, userEmail: undefined }));
  expect(res.status).toBe(201);
  connection = (await res.json()) as ConnectionView;
});

afterAll(async () => {
  await api?.close();
  await db?.drop();
});

beforeEach(async () => {
  stored = await snapshot();
});

async function expectNothingStored(): Promise<void> {
  expect(await snapshot()).toBe(stored);
}

const HOSTILE: Array<[string, string, RegExp]> = [
  ["a NUL", "a\u0000b", /NUL/],
  ["a lone surrogate", "a\ud800b", /surrogate/],
  ["only spaces", "   ", /only of spaces/],
  ["only control characters", "\u0001\u0007\t", /only of spaces/],
  ["only bidi marks", "\u202e\u200f\u2066", /invisible/],
  ["a zero-width space", "\u200b", /invisible/],
];

describe("strings Postgres cannot hold, or that read as blank", () => {
  it.each(HOSTILE)("POST refuses %s in providerAccountId and in a scope", async (_label, value, message) => {
    await expectBadRequest(
      await send("POST", "/connections", createBody({ providerAccountId: value })),
      "body.providerAccountId",
      message,
    );
    await expectBadRequest(
      await send("POST", "/connections", createBody({ scopes: ["email", value] })),
      "body.scopes.1",
      message,
    );
    await expectNothingStored();
  });

  it.each(HOSTILE)("PUT refuses %s in a scope", async (_label, value, message) => {
    await expectBadRequest(
      await send("PUT", `/connections/${connection.id}`, { scopes: [value] }),
      "body.scopes.0",
      message,
    );
    await expectNothingStored();
  });

  it("refuses a NUL in the query and in a path parameter, and answers 401 first without a token", async () => {
    await expectBadRequest(await send("GET", "/connections?provider=goo%00gle"), "query.provider", /NUL/);
    await expectBadRequest(await send("GET", "/connections/%00"), "params.id", /NUL/);
    const anonymous = await send("POST", "/connections", createBody({ providerAccountId: "a\u0000b" }), {});
    expect(anonymous.status).toBe(401);
    await expectNothingStored();
  });

  it("refuses a body that is not UTF-8 instead of storing U+FFFD", async () => {
    const [head, tail] = JSON.stringify(createBody({ providerAccountId: "acct-XX" })).split("XX");
    // 0xED 0xA0 0x80 is a surrogate encoded as UTF-8: not UTF-8, and decoded as U+FFFD if let through.
    const invalid = Buffer.concat([
      Buffer.from(head ?? ""),
      Buffer.from([0xed, 0xa0, 0x80]),
      Buffer.from(tail ?? ""),
    ]);
    const res = await send("POST", "/connections", invalid);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ details: [{ path: "body", message: "is not valid UTF-8" }] });
    await expectNothingStored();
  });
});

describe("one error format, located fields, nothing before authentication but what must be", () => {
  it("answers a too-long id 401 without a token and 400 params.id with one, never echoing it", async () => {
    const long = "x".repeat(4000);
    const anonymous = await send("GET", `/connections/${long}`, undefined, {});
    expect(anonymous.status).toBe(401);
    const res = await send("GET", `/connections/${long}`);
    const text = await res.text();
    expect(res.status).toBe(400);
    expect(JSON.parse(text)).toMatchObject({ error: "bad_request", details: [{ path: "params.id" }] });
    expect(text).not.toContain(long);
  });

  it("answers oversized headers and broken HTTP in the format", async () => {
    const big = await rawHttp(
      url,
      `GET /connections HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${"A".repeat(20_000)}\r\n\r\n`,
    );
    expect(big.status).toBe(431);
    expect(big.json).toMatchObject({
      error: "request_header_fields_too_large",
      details: [{ path: "headers" }],
    });
    const broken = await rawHttp(url, "GET /connections HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n");
    expect(broken.status).toBe(400);
    expect(broken.json).toMatchObject({ error: "bad_request", details: [{ path: "request" }] });
    await expectNothingStored();
  });

  it("names query fields with their location", async () => {
    await expectBadRequest(await send("GET", "/connections?limit=0"), "query.limit", /./);
    await expectBadRequest(await send("GET", "/connections?cursor=forged"), "query.cursor", /cursor/);
    const unknown = await send("GET", "/connections?access_token=x");
    expect(((await unknown.json()) as ErrorBody).details).toEqual([
      { path: "query.access_token", message: "is not a known field" },
    ]);
  });
});

describe("slow clients", () => {
  it("cuts off an authenticated PUT whose body stalls, with a 408, and changes nothing", async () => {
    const res = await rawHttp(
      url,
      `PUT /connections/${connection.id} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${API_TOKEN}\r\n` +
        'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"scopes":["a"',
    );
    expect(res.closedByServer).toBe(true);
    expect(res.status).toBe(408);
    expect(res.json).toMatchObject({ error: "request_timeout" });
    expect(res.elapsedMs).toBeLessThan(TIMEOUTS.requestMs + 1_000);
    await expectNothingStored();
  });

  it("cuts off headers that stop half-way", async () => {
    const res = await rawHttp(
      url,
      `POST /connections HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${API_TOKEN}`,
    );
    expect(res.closedByServer).toBe(true);
    expect(res.status).toBe(408);
    expect(res.elapsedMs).toBeLessThan(TIMEOUTS.headersMs + 1_000);
    await expectNothingStored();
  });
});

describe("request logs", () => {
  it("never hold a query secret, and carry a client's request id only beside ours", async () => {
    const secret = `ya29-${randomUUID()}`;
    const res = await send("GET", `/connections?access_token=${secret}&limit=1`, undefined, {
      ...auth,
      "x-request-id": "gw-42",
    });
    expect(res.status).toBe(400);
    const ours = res.headers.get("x-request-id");
    expect(ours).toMatch(/^[0-9a-f-]{36}$/);
    const log = api.logText();
    expect(log).not.toContain(secret);
    expect(log).toContain("/connections?access_token=[redacted]&limit=1");
    expect(log).toContain(`"reqId":"${ours}","clientRequestId":"gw-42"`);

    await send("GET", "/connections?limit=1", undefined, {
      ...auth,
      "x-request-id": `${ours} {"spoofed":1}`,
    });
    expect(api.logText()).not.toContain("spoofed");
  });
});

describe("Idempotency-Key", () => {
  it("treats a retry that repeats a scope as the same request", async () => {
    const key = `retry-${randomUUID()}`;
    const body = createBody({ providerAccountId: `acct-${randomUUID()}`, scopes: ["email", "openid"] });
    const first = await send("POST", "/connections", body, { ...auth, "idempotency-key": key });
    expect(first.status).toBe(201);
    const retry = await send(
      "POST",
      "/connections",
      { ...body, scopes: ["email", "openid", "email"] },
      { ...auth, "idempotency-key": key },
    );
    expect(retry.status).toBe(201);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(((await retry.json()) as ConnectionView).id).toBe(((await first.json()) as ConnectionView).id);
  });

  it("answers a key replayed after revocation with the connection as it is now, and does not register it again", async () => {
    const key = `revoked-${randomUUID()}`;
    const body = createBody({ providerAccountId: `acct-${randomUUID()}` });
    const first = (await (
      await send("POST", "/connections", body, { ...auth, "idempotency-key": key })
    ).json()) as ConnectionView;
    expect((await send("DELETE", `/connections/${first.id}`)).status).toBe(200);
    const before = await snapshot();
    const replay = await send("POST", "/connections", body, { ...auth, "idempotency-key": key });
    expect(replay.status).toBe(201);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(await replay.json()).toMatchObject({ id: first.id, status: "revoked", hasAccessToken: false });
    expect(await snapshot()).toBe(before);
  });
});
