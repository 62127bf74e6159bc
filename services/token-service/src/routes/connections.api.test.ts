import { randomUUID } from "node:crypto";
import type { TokenCipher } from "@syncwell/credentials";
import { createTestDatabase, type TestDatabase, waitForLockWait } from "@syncwell/testing";
import type { InjectOptions, LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decryptTokens, findConnection } from "../repositories/connections.repository.ts";
import {
  auth,
  cipherFor,
  createUser,
  randomKey,
  secretToken,
  startTestApi,
  type TestApi,
} from "../testing/fixtures.ts";
import type { ConnectionView } from "./connection-view.ts";
import type { ConnectionPage } from "./list-connections.route.ts";

let db: TestDatabase;
let api: TestApi;
let cipher: TokenCipher;

/** Every token this file hands to the API, and every response body it got back. */
const tokensUsed = new Set<string>();
const bodies: string[] = [];

async function call(options: InjectOptions): Promise<LightMyRequestResponse> {
  const res = await api.app.inject(options);
  bodies.push(res.body, JSON.stringify(res.headers));
  return res;
}

function tokens() {
  const accessToken = secretToken("access");
  const refreshToken = secretToken("refresh");
  tokensUsed.add(accessToken);
  tokensUsed.add(refreshToken);
  return { accessToken, refreshToken };
}

async function create(body: Record<string, unknown>, headers: Record<string, string> = {}) {
  return call({ method: "POST", url: "/connections", headers: { ...auth, ...headers }, payload: body });
}

async function newConnection(extra: Record<string, unknown> = {}): Promise<ConnectionView> {
  const userId = await createUser(db.pool);
  const res = await create({
    userId,
    provider: "google",
    scopes: ["email"],
    ...tokens(),
    expiresIn: 3600,
    ...extra,
  });
  expect(res.statusCode).toBe(201);
  return res.json<ConnectionView>();
}

beforeAll(async () => {
  db = await createTestDatabase();
  cipher = cipherFor({ k1: randomKey() }, "k1");
  api = await startTestApi(db.pool, cipher);
});

afterAll(async () => {
  await api?.close();
  await db?.drop();
});

describe("authentication", () => {
  it("answers 401 without the bearer token, with a wrong one or another scheme", async () => {
    for (const authorization of [
      undefined,
      "Bearer wrong-token-wrong-token",
      "Basic dGVzdDp0ZXN0",
      "Bearer",
    ]) {
      const res = await call({
        method: "GET",
        url: `/connections/${randomUUID()}`,
        headers: authorization ? { authorization } : {},
      });
      expect(res.statusCode).toBe(401);
      expect(res.headers["www-authenticate"]).toMatch(/^Bearer/);
      expect(res.json()).toMatchObject({ error: "unauthorized" });
      expect(res.json().message).toMatch(/bearer token is (required|not valid)/);
    }
    const ok = await call({
      method: "GET",
      url: `/connections/${randomUUID()}`,
      headers: { authorization: auth.authorization.replace("Bearer", "bearer") },
    });
    expect(ok.statusCode).toBe(404);
  });

  it("leaves the probes open", async () => {
    expect((await call({ method: "GET", url: "/healthz" })).statusCode).toBe(200);
  });
});

describe("POST /connections", () => {
  it("creates a connection, encrypts its tokens and never returns them", async () => {
    const userId = randomUUID();
    const t = tokens();
    const before = Date.now();
    const res = await create({
      userId,
      userEmail: "New.User@Example.com",
      provider: "spotify",
      providerAccountId: "spotify-acct-1",
      scopes: ["user-read-recently-played", "user-read-recently-played", "user-top-read"],
      ...t,
      expiresIn: 3600,
    });
    expect(res.statusCode).toBe(201);
    const view = res.json<ConnectionView>();
    expect(view).toMatchObject({
      userId,
      provider: "spotify",
      providerAccountId: "spotify-acct-1",
      scopes: ["user-read-recently-played", "user-top-read"],
      status: "connected",
      hasAccessToken: true,
      hasRefreshToken: true,
      tokenExpiresNever: false,
      tokenKeyId: "k1",
      consecutiveFailures: 0,
      consecutiveTransientFailures: 0,
      revokedAt: null,
    });
    const expiresAt = Date.parse(view.accessTokenExpiresAt ?? "");
    expect(expiresAt).toBeGreaterThanOrEqual(before + 3_600_000);
    expect(expiresAt).toBeLessThan(Date.now() + 3_600_000 + 1000);
    expect(Object.keys(view).some((k) => /encrypted/i.test(k))).toBe(false);

    const { rows } = await db.pool.query("SELECT email FROM users WHERE id = $1", [userId]);
    expect(rows[0]?.email).toBe("new.user@example.com");

    const { rows: stored } = await db.pool.query(
      "SELECT access_token_encrypted, refresh_token_encrypted, token_key_id FROM connections WHERE id = $1",
      [view.id],
    );
    expect(stored[0]?.access_token_encrypted).toMatch(/^v1\.k1\./);
    expect(stored[0]?.access_token_encrypted).not.toContain(t.accessToken);
    expect(stored[0]?.refresh_token_encrypted).not.toContain(t.refreshToken);
    expect(stored[0]?.token_key_id).toBe("k1");
    const row = await findConnection(api.prisma, view.id);
    expect(row && decryptTokens(row, cipher)).toEqual({
      accessToken: t.accessToken,
      refreshToken: t.refreshToken,
    });
  });

  it("takes an absolute expiry, or none for a token that never expires", async () => {
    const at = await newConnection({ expiresIn: undefined, expiresAt: "2031-05-01T12:00:00+02:00" });
    expect(at.accessTokenExpiresAt).toBe("2031-05-01T10:00:00.000Z");

    const never = await newConnection({ expiresIn: undefined, refreshToken: undefined });
    expect(never).toMatchObject({
      accessTokenExpiresAt: null,
      tokenExpiresNever: true,
      hasRefreshToken: false,
    });
  });

  it("answers 400 naming each bad field and why", async () => {
    const userId = await createUser(db.pool);
    const res = await create({
      userId,
      provider: "myspace",
      scopes: "email",
      refreshToken: "",
      expiresAt: "tomorrow",
      expiresIn: -5,
      extra: 1,
    });
    expect(res.statusCode).toBe(400);
    const body = res.json<{ error: string; details: Array<{ path: string; message: string }> }>();
    expect(body.error).toBe("bad_request");
    const paths = body.details.map((d) => d.path);
    for (const path of [
      "body.provider",
      "body.scopes",
      "body.accessToken",
      "body.refreshToken",
      "body.expiresAt",
      "body.expiresIn",
      "body.extra",
    ]) {
      expect(paths).toContain(path);
    }
    expect(body.details.find((d) => d.path === "body.extra")?.message).toBe("is not a known field");

    const both = await create({
      userId,
      provider: "github",
      scopes: [],
      ...tokens(),
      expiresIn: 60,
      expiresAt: "2030-01-01T00:00:00Z",
    });
    expect(both.statusCode).toBe(400);
    expect(both.json()).toMatchObject({
      details: [{ path: "body.expiresIn", message: "give expiresAt or expiresIn, not both" }],
    });

    const notJson = await call({
      method: "POST",
      url: "/connections",
      headers: { ...auth, "content-type": "application/json" },
      payload: `{"accessToken": "${tokens().accessToken}",`,
    });
    expect(notJson.statusCode).toBe(400);
    expect(notJson.json()).toMatchObject({ error: "bad_request", details: [{ path: "body" }] });
  });

  it("needs userEmail to create a missing user, and refuses an email of another user", async () => {
    const missing = await create({ userId: randomUUID(), provider: "github", scopes: [], ...tokens() });
    expect(missing.statusCode).toBe(400);
    expect(missing.json()).toMatchObject({ details: [{ path: "body.userEmail" }] });

    const email = `taken-${randomUUID()}@example.com`;
    await createUser(db.pool, email);
    const taken = await create({
      userId: randomUUID(),
      userEmail: email,
      provider: "github",
      scopes: [],
      ...tokens(),
    });
    expect(taken.statusCode).toBe(409);
    expect(taken.json()).toMatchObject({ error: "email_taken" });
  });

  it("answers 409 for a provider account that is already connected, a missing account id included", async () => {
    const userId = await createUser(db.pool);
    for (const providerAccountId of ["acct-x", undefined]) {
      const first = await create({ userId, provider: "discord", providerAccountId, scopes: [], ...tokens() });
      expect(first.statusCode).toBe(201);
      const again = await create({ userId, provider: "discord", providerAccountId, scopes: [], ...tokens() });
      expect(again.statusCode).toBe(409);
      expect(again.json()).toMatchObject({
        error: "connection_exists",
        connectionId: first.json<ConnectionView>().id,
      });
    }
  });

  it("answers 409 naming the winner when another registration of the account commits first", async () => {
    const userId = await createUser(db.pool);
    const winner = randomUUID();
    const holder = await db.pool.connect();
    try {
      // A registration that has inserted the row but not committed: the API's lookup does not see
      // it, so its insert waits on the unique index and fails once the other commits.
      await holder.query("BEGIN");
      await holder.query(
        "INSERT INTO connections (id, user_id, provider, provider_account_id) VALUES ($1, $2, 'github', 'raced')",
        [winner, userId],
      );
      const pending = create({
        userId,
        provider: "github",
        providerAccountId: "raced",
        scopes: [],
        ...tokens(),
      });
      await waitForLockWait(db, "the API's insert to wait for the other registration");
      await holder.query("COMMIT");
      const res = await pending;
      expect(res.statusCode).toBe(409);
      expect(res.json()).toMatchObject({ error: "connection_exists", connectionId: winner });
    } finally {
      holder.release();
    }
  });

  it("registers a revoked provider account again in place", async () => {
    const view = await newConnection({ providerAccountId: "reconnect-me" });
    await db.pool.query(
      "UPDATE connections SET consecutive_failures = 3, last_error_code = 'invalid_grant' WHERE id = $1",
      [view.id],
    );
    expect((await call({ method: "DELETE", url: `/connections/${view.id}`, headers: auth })).statusCode).toBe(
      200,
    );

    const again = await create({
      userId: view.userId,
      provider: "google",
      providerAccountId: "reconnect-me",
      scopes: ["calendar"],
      ...tokens(),
      expiresIn: 60,
    });
    expect(again.statusCode).toBe(201);
    expect(again.json()).toMatchObject({
      id: view.id,
      status: "connected",
      revokedAt: null,
      consecutiveFailures: 0,
      lastErrorCode: null,
      hasAccessToken: true,
      scopes: ["calendar"],
    });
  });
});

describe("Idempotency-Key", () => {
  it("returns the same connection for the same key and body, and 422 for another body", async () => {
    const userId = await createUser(db.pool);
    const body = { userId, provider: "linkedin", scopes: ["r_liteprofile"], ...tokens(), expiresIn: 5000 };
    const key = `create-${randomUUID()}`;
    const first = await create(body, { "idempotency-key": key });
    expect(first.statusCode).toBe(201);
    const again = await create(body, { "idempotency-key": key });
    expect(again.statusCode).toBe(201);
    expect(again.headers["idempotent-replayed"]).toBe("true");
    expect(again.json<ConnectionView>().id).toBe(first.json<ConnectionView>().id);

    const other = await create({ ...body, scopes: ["w_member_social"] }, { "idempotency-key": key });
    expect(other.statusCode).toBe(422);
    expect(other.json()).toMatchObject({ error: "idempotency_key_reused" });

    const { rows } = await db.pool.query("SELECT count(*)::int AS n FROM connections WHERE user_id = $1", [
      userId,
    ]);
    expect(rows[0]?.n).toBe(1);
  });

  it("creates one connection when retries with the same key race", async () => {
    const userId = await createUser(db.pool);
    const body = { userId, provider: "slack", scopes: [], ...tokens() };
    const key = `race-${randomUUID()}`;
    const results = await Promise.all(
      Array.from({ length: 6 }, () => create(body, { "idempotency-key": key })),
    );
    expect(results.map((r) => r.statusCode)).toEqual(Array(6).fill(201));
    expect(new Set(results.map((r) => r.json<ConnectionView>().id)).size).toBe(1);
  });

  it("rejects a malformed key", async () => {
    const res = await create(
      { userId: randomUUID(), provider: "slack", scopes: [], ...tokens() },
      { "idempotency-key": "has space" },
    );
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ details: [{ path: "headers.idempotency-key" }] });
  });
});

describe("GET /connections/:id", () => {
  it("reads a connection, 404 for an unknown id, 400 for a malformed one", async () => {
    const view = await newConnection();
    const res = await call({ method: "GET", url: `/connections/${view.id}`, headers: auth });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(view);

    const unknown = randomUUID();
    const missing = await call({ method: "GET", url: `/connections/${unknown}`, headers: auth });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toEqual({ error: "not_found", message: `no connection ${unknown}` });

    const malformed = await call({ method: "GET", url: "/connections/not-a-uuid", headers: auth });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json()).toMatchObject({ details: [{ path: "params.id" }] });
  });
});

describe("GET /connections", () => {
  it("filters by user, provider and status and pages through with the cursor", async () => {
    const userId = await createUser(db.pool);
    const ids: string[] = [];
    for (const provider of ["google", "github", "spotify", "slack", "discord"]) {
      const res = await create({ userId, provider, scopes: [], ...tokens(), expiresIn: 600 });
      ids.push(res.json<ConnectionView>().id);
    }
    await db.pool.query("UPDATE connections SET status = 'warning' WHERE id = ANY($1)", [[ids[1], ids[3]]]);

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const url: string = `/connections?userId=${userId}&limit=2${cursor ? `&cursor=${cursor}` : ""}`;
      const res = await call({ method: "GET", url, headers: auth });
      expect(res.statusCode).toBe(200);
      const page = res.json<ConnectionPage>();
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((c) => c.id));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor);
    expect(seen).toEqual(ids);
    expect(pages).toBe(3);

    const byProvider = await call({
      method: "GET",
      url: `/connections?userId=${userId}&provider=github`,
      headers: auth,
    });
    expect(byProvider.json<ConnectionPage>().items.map((c) => c.id)).toEqual([ids[1]]);

    const byStatus = await call({
      method: "GET",
      url: `/connections?userId=${userId}&status=warning,needs_reauth`,
      headers: auth,
    });
    expect(byStatus.json<ConnectionPage>()).toEqual({
      items: [expect.objectContaining({ id: ids[1] }), expect.objectContaining({ id: ids[3] })],
      nextCursor: null,
    });
  });

  it("answers 400 for bad filters", async () => {
    const res = await call({
      method: "GET",
      url: "/connections?limit=0&status=sleeping&cursor=zzz&provider=aol",
      headers: auth,
    });
    expect(res.statusCode).toBe(400);
    const paths = res.json<{ details: Array<{ path: string }> }>().details.map((d) => d.path);
    expect(paths).toEqual(
      expect.arrayContaining(["query.limit", "query.status.0", "query.cursor", "query.provider"]),
    );
  });
});

describe("PUT /connections/:id", () => {
  it("takes new tokens after re-authorization: connected again, counters reset, token.refreshed enqueued", async () => {
    const view = await newConnection();
    await db.pool.query(
      `UPDATE connections SET status = 'needs_reauth', consecutive_failures = 3, consecutive_transient_failures = 1,
         last_error_code = 'invalid_grant', next_retry_at = now(), refresh_claimed_by = 'worker-1',
         refresh_claimed_until = now() + interval '1 minute' WHERE id = $1`,
      [view.id],
    );
    const t = tokens();
    const res = await call({
      method: "PUT",
      url: `/connections/${view.id}`,
      headers: auth,
      payload: { ...t, scopes: ["email", "calendar"], expiresAt: "2031-01-01T00:00:00Z" },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      id: view.id,
      status: "connected",
      consecutiveFailures: 0,
      consecutiveTransientFailures: 0,
      lastErrorCode: null,
      nextRetryAt: null,
      scopes: ["email", "calendar"],
      accessTokenExpiresAt: "2031-01-01T00:00:00.000Z",
      hasRefreshToken: true,
    });
    const row = await findConnection(api.prisma, view.id);
    expect(row && decryptTokens(row, cipher)).toEqual({
      accessToken: t.accessToken,
      refreshToken: t.refreshToken,
    });
    expect(row?.refreshClaimedBy).toBeNull();

    const { rows } = await db.pool.query<{ type: string; payload: { data: Record<string, unknown> } }>(
      "SELECT type, payload FROM outbox_events WHERE payload->'data'->>'connectionId' = $1",
      [view.id],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]?.type).toBe("token.refreshed");
    expect(rows[0]?.payload.data).toMatchObject({
      connectionId: view.id,
      userId: view.userId,
      provider: "google",
      expiresAt: "2031-01-01T00:00:00.000Z",
      refreshTokenRotated: true,
      recovered: true,
      previousStatus: "needs_reauth",
    });
  });

  it("keeps the stored refresh token when only the access token changes", async () => {
    const view = await newConnection();
    const before = await findConnection(api.prisma, view.id);
    const refreshToken = before && decryptTokens(before, cipher).refreshToken;
    const accessToken = tokens().accessToken;
    const res = await call({
      method: "PUT",
      url: `/connections/${view.id}`,
      headers: auth,
      payload: { accessToken },
    });
    expect(res.json()).toMatchObject({
      status: "connected",
      tokenExpiresNever: true,
      accessTokenExpiresAt: null,
    });
    const after = await findConnection(api.prisma, view.id);
    expect(after && decryptTokens(after, cipher)).toEqual({ accessToken, refreshToken });
    const { rows } = await db.pool.query(
      "SELECT payload->'data' AS data FROM outbox_events WHERE payload->'data'->>'connectionId' = $1",
      [view.id],
    );
    expect(rows[0]?.data).toMatchObject({
      refreshTokenRotated: false,
      recovered: false,
      previousStatus: "connected",
    });
  });

  it("updates scopes or expiry alone without touching status or tokens, and without an event", async () => {
    const view = await newConnection();
    await db.pool.query("UPDATE connections SET status = 'warning', consecutive_failures = 2 WHERE id = $1", [
      view.id,
    ]);
    const res = await call({
      method: "PUT",
      url: `/connections/${view.id}`,
      headers: auth,
      payload: { scopes: ["openid"], expiresAt: null },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      status: "warning",
      consecutiveFailures: 2,
      scopes: ["openid"],
      accessTokenExpiresAt: null,
      tokenExpiresNever: true,
    });
    const { rowCount } = await db.pool.query(
      "SELECT 1 FROM outbox_events WHERE payload->'data'->>'connectionId' = $1",
      [view.id],
    );
    expect(rowCount).toBe(0);
  });

  it("answers 400 for an empty or bad body, 404 for an unknown id, 409 for a revoked connection", async () => {
    const view = await newConnection();
    const empty = await call({ method: "PUT", url: `/connections/${view.id}`, headers: auth, payload: {} });
    expect(empty.statusCode).toBe(400);
    const bad = await call({
      method: "PUT",
      url: `/connections/${view.id}`,
      headers: auth,
      payload: { accessToken: 42, expiresIn: 1.5 },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json<{ details: Array<{ path: string }> }>().details.map((d) => d.path)).toEqual([
      "body.accessToken",
      "body.expiresIn",
    ]);
    const missing = await call({
      method: "PUT",
      url: `/connections/${randomUUID()}`,
      headers: auth,
      payload: { scopes: [] },
    });
    expect(missing.statusCode).toBe(404);

    await call({ method: "DELETE", url: `/connections/${view.id}`, headers: auth });
    const revoked = await call({
      method: "PUT",
      url: `/connections/${view.id}`,
      headers: auth,
      payload: tokens(),
    });
    expect(revoked.statusCode).toBe(409);
    expect(revoked.json()).toMatchObject({ error: "connection_revoked" });
  });
});

describe("DELETE /connections/:id", () => {
  it("revokes: status revoked, tokens wiped, revoked_at kept on repeat; 404 for an unknown id", async () => {
    const view = await newConnection();
    const res = await call({ method: "DELETE", url: `/connections/${view.id}`, headers: auth });
    expect(res.statusCode).toBe(200);
    const revoked = res.json<ConnectionView>();
    expect(revoked).toMatchObject({
      status: "revoked",
      hasAccessToken: false,
      hasRefreshToken: false,
      tokenKeyId: null,
    });
    expect(revoked.revokedAt).not.toBeNull();

    const { rows } = await db.pool.query(
      "SELECT access_token_encrypted, refresh_token_encrypted, token_key_id, status FROM connections WHERE id = $1",
      [view.id],
    );
    expect(rows[0]).toEqual({
      access_token_encrypted: null,
      refresh_token_encrypted: null,
      token_key_id: null,
      status: "revoked",
    });

    const again = await call({ method: "DELETE", url: `/connections/${view.id}`, headers: auth });
    expect(again.statusCode).toBe(200);
    expect(again.json<ConnectionView>().revokedAt).toBe(revoked.revokedAt);

    expect(
      (await call({ method: "DELETE", url: `/connections/${randomUUID()}`, headers: auth })).statusCode,
    ).toBe(404);
  });
});

describe("secrets", () => {
  it("never puts a token in a response, a log line or an event, failing requests included", async () => {
    const userId = await createUser(db.pool);
    const t = tokens();
    const created = await create({ userId, provider: "github", scopes: ["repo"], ...t, expiresIn: 28800 });
    expect(created.statusCode).toBe(201);
    const id = created.json<ConnectionView>().id;
    // Failing requests that carry tokens: invalid field next to valid tokens, a duplicate, bad JSON.
    expect(
      (await create({ userId, provider: "github", scopes: ["repo"], ...t, expiresIn: "soon" })).statusCode,
    ).toBe(400);
    expect((await create({ userId, provider: "github", scopes: ["repo"], ...t })).statusCode).toBe(409);
    const fresh = tokens();
    expect(
      (
        await call({
          method: "PUT",
          url: `/connections/${id}`,
          headers: auth,
          payload: { ...fresh, scopes: 7 },
        })
      ).statusCode,
    ).toBe(400);
    expect(
      (await call({ method: "PUT", url: `/connections/${id}`, headers: auth, payload: fresh })).statusCode,
    ).toBe(200);
    expect((await call({ method: "GET", url: `/connections/${id}`, headers: auth })).statusCode).toBe(200);
    expect(
      (await call({ method: "GET", url: `/connections?userId=${userId}`, headers: auth })).statusCode,
    ).toBe(200);
    expect((await call({ method: "DELETE", url: `/connections/${id}`, headers: auth })).statusCode).toBe(200);
    // A caller that sends a token where the API token belongs.
    expect(
      (
        await call({
          method: "GET",
          url: `/connections/${id}`,
          headers: { authorization: `Bearer ${t.accessToken}` },
        })
      ).statusCode,
    ).toBe(401);

    const logs = api.logText();
    expect(logs).toContain("connection registered"); // the capture works
    const { rows } = await db.pool.query<{ payload: string }>(
      "SELECT payload::text AS payload FROM outbox_events",
    );
    const events = rows.map((r) => r.payload).join("\n");
    expect(events).toContain("token.refreshed");
    // Across this whole file: every token given to the API so far.
    const responses = bodies.join("\n");
    for (const token of tokensUsed) {
      expect(responses).not.toContain(token);
      expect(logs).not.toContain(token);
      expect(events).not.toContain(token);
    }
    expect(logs).not.toContain("test-api-token");
  });
});
