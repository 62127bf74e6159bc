// The engine's PlatformHttp over real HTTP (a local server answering what each test needs) with the
// real Postgres-backed rate limiter.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createRateLimiter, type RateLimiter } from "@syncwell/rate-limit";
import { createTestDatabase, type TestDatabase } from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_RETRY_AFTER_MS, PlatformError } from "./connectors/errors.ts";
import {
  createPlatformHttp,
  type PlatformHttpOptions,
  PollAbortedError,
  TokenExpiringError,
} from "./platform-http.ts";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

let db: TestDatabase;
let server: Server;
let baseUrl: string;
let handler: Handler = (_req, res) => res.end("{}");
const seen: Array<{ url: string; auth: string | undefined }> = [];
let limiter: RateLimiter;

beforeAll(async () => {
  db = await createTestDatabase();
  server = createServer((req, res) => {
    seen.push({ url: req.url ?? "", auth: req.headers.authorization });
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`;
  limiter = createRateLimiter(db.pool);
  await limiter.configure([
    { key: "http-test", perSec: 1_000, burst: 1_000 },
    { key: "slow-bucket", perSec: 5, burst: 1 },
    { key: "blocked-bucket", perSec: 1_000, burst: 1_000 },
    { key: "batch-bucket", perSec: 5, burst: 1 },
  ]);
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await db?.drop();
});

function http(overrides: Partial<PlatformHttpOptions> = {}) {
  return createPlatformHttp({
    platform: "testplatform",
    baseUrl,
    accessToken: "secret-token",
    tokenExpiresAt: new Date(Date.now() + 3_600_000),
    limiter,
    bucketKey: "http-test",
    timeoutMs: 1_000,
    signal: new AbortController().signal,
    ...overrides,
  });
}

function respond(status: number, body = "", headers: Record<string, string> = {}): Handler {
  return (_req, res) => {
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(body);
  };
}

async function failure(promise: Promise<unknown>): Promise<PlatformError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PlatformError);
  return err as PlatformError;
}

describe("PlatformHttp", () => {
  it("sends the bearer token to the platform's base URL with the query, and parses JSON", async () => {
    handler = respond(200, '{"ok":true}');
    const result = await http().get<{ ok: boolean }>("/v1/items", {
      query: { limit: 10, ids: ["a", "b"], skip: undefined },
      headers: { "if-none-match": '"e1"' },
    });
    expect(result.status).toBe(200);
    expect(result.body).toEqual({ ok: true });
    expect(seen.at(-1)).toEqual({ url: "/api/v1/items?limit=10&ids=a&ids=b", auth: "Bearer secret-token" });
  });

  it("returns 304 and empty bodies as null", async () => {
    handler = respond(304);
    expect(await http().get("/x")).toMatchObject({ status: 304, body: null });
    handler = respond(204);
    expect(await http().get("/x")).toMatchObject({ status: 204, body: null });
  });

  it("maps statuses to error kinds", async () => {
    handler = respond(401, '{"error":{"message":"Invalid Credentials"}}');
    const unauthorized = await failure(http().get("/x"));
    expect(unauthorized).toMatchObject({ kind: "unauthorized", status: 401 });
    expect(unauthorized.message).toBe("GET /api/x returned 401: Invalid Credentials");

    handler = respond(503);
    expect(await failure(http().get("/x"))).toMatchObject({ kind: "transient", status: 503 });
    handler = respond(404, '{"message":"Not Found"}');
    expect(await failure(http().get("/x"))).toMatchObject({ kind: "permanent", status: 404 });
    handler = respond(403, '{"message":"Forbidden"}');
    expect(await failure(http().get("/x"))).toMatchObject({ kind: "permanent", status: 403 });
    handler = respond(200, '{"truncated":');
    expect(await failure(http().get("/x"))).toMatchObject({ kind: "malformed" });
  });

  it("reads the wait of a rate limit from Retry-After (seconds or date) or the reset headers", async () => {
    handler = respond(429, "", { "retry-after": "7" });
    expect(await failure(http().get("/x"))).toMatchObject({ kind: "rate_limited", retryAfterMs: 7_000 });

    handler = respond(429, "", { "retry-after": new Date(Date.now() + 20_000).toUTCString() });
    const dated = await failure(http().get("/x"));
    expect(dated.retryAfterMs).toBeGreaterThan(18_000);
    expect(dated.retryAfterMs).toBeLessThanOrEqual(20_000);

    const reset = Math.floor(Date.now() / 1000) + 30;
    handler = respond(403, "", { "x-ratelimit-remaining": "0", "x-ratelimit-reset": String(reset) });
    const github = await failure(http().get("/x"));
    expect(github.kind).toBe("rate_limited");
    expect(github.retryAfterMs).toBeGreaterThan(28_000);

    handler = respond(429);
    expect(await failure(http().get("/x"))).toMatchObject({ retryAfterMs: DEFAULT_RETRY_AFTER_MS });
  });

  it("times out slow responses and reports network errors as transient", async () => {
    handler = () => {}; // never answers
    const timedOut = await failure(http({ timeoutMs: 200 }).get("/slow"));
    expect(timedOut).toMatchObject({ kind: "transient" });
    expect(timedOut.message).toContain("timed out after 200 ms");

    const down = await failure(http({ baseUrl: "http://127.0.0.1:1" }).get("/x"));
    expect(down.kind).toBe("transient");
  });

  it("stops when the poll is aborted, and never sends a token that would expire during the request", async () => {
    handler = () => {};
    const controller = new AbortController();
    const pending = http({ signal: controller.signal, timeoutMs: 5_000 }).get("/x");
    setTimeout(() => controller.abort(), 50);
    await expect(pending).rejects.toBeInstanceOf(PollAbortedError);

    const before = seen.length;
    await expect(
      http({ tokenExpiresAt: new Date(Date.now() + 1_500), timeoutMs: 1_000 }).get("/x"),
    ).rejects.toBeInstanceOf(TokenExpiringError);
    expect(seen.length).toBe(before);
    handler = respond(200, "{}");
    await expect(http({ tokenExpiresAt: null }).get("/x")).resolves.toMatchObject({ status: 200 });
  });

  it("follows absolute URLs only on the platform's own origin", async () => {
    handler = respond(200, "{}");
    await expect(http().get(`${new URL(baseUrl).origin}/api/next?page=2`)).resolves.toMatchObject({
      status: 200,
    });
    const before = seen.length;
    expect(await failure(http().get("https://elsewhere.example/steal"))).toMatchObject({ kind: "permanent" });
    expect(seen.length).toBe(before);
  });

  it("takes a token from the shared bucket before each request", async () => {
    handler = respond(200, "{}");
    const client = http({ bucketKey: "slow-bucket" });
    const started = performance.now();
    await Promise.all([client.get("/a"), client.get("/b"), client.get("/c")]);
    // Burst 1, then 5 per second: the third request starts ~400 ms after the first.
    expect(performance.now() - started).toBeGreaterThanOrEqual(380);
    expect(client.requests).toBe(3);
  });

  it("fails at once, without a request, while the platform's bucket is blocked", async () => {
    handler = respond(200, "{}");
    const until = await limiter.block("blocked-bucket", 5_000);
    expect(until.getTime()).toBeGreaterThan(Date.now() + 4_000);
    // A shorter block never shortens a longer one.
    expect((await limiter.block("blocked-bucket", 10)).getTime()).toBe(until.getTime());
    const before = seen.length;
    const blocked = await failure(http({ bucketKey: "blocked-bucket" }).get("/x"));
    expect(blocked.kind).toBe("rate_limited");
    expect(blocked.retryAfterMs).toBeGreaterThan(4_000);
    expect(seen.length).toBe(before);
  });

  it("posts a body and answers the raw text with the headers, mapping errors as for GET", async () => {
    let received: { method?: string; type?: string; length?: string; auth?: string; body: string } = {
      body: "",
    };
    handler = (req, res) => {
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (chunk: string) => {
        body += chunk;
      });
      req.on("end", () => {
        received = {
          method: req.method,
          type: req.headers["content-type"],
          length: req.headers["content-length"],
          auth: req.headers.authorization,
          body,
        };
        res.writeHead(200, { "content-type": "multipart/mixed; boundary=b" });
        res.end("--b--\r\n");
      });
    };
    const body = "--a\r\nContent-Type: application/http\r\n\r\nGET /v1/é\r\n--a--\r\n";
    const result = await http().post("/batch", {
      body,
      contentType: "multipart/mixed; boundary=a",
      calls: 2,
    });
    expect(result.status).toBe(200);
    expect(result.text).toBe("--b--\r\n");
    expect(result.headers.get("content-type")).toBe("multipart/mixed; boundary=b");
    expect(received).toEqual({
      method: "POST",
      type: "multipart/mixed; boundary=a",
      length: String(Buffer.byteLength(body)),
      auth: "Bearer secret-token",
      body,
    });
    expect(seen.at(-1)?.url).toBe("/api/batch");

    const post = () => http().post("/batch", { body: "x", contentType: "text/plain" });
    handler = respond(429, '{"error":{"message":"Too many"}}', { "retry-after": "9" });
    const limited = await failure(post());
    expect(limited).toMatchObject({ kind: "rate_limited", status: 429, retryAfterMs: 9_000 });
    expect(limited.message).toBe("POST /api/batch returned 429: Too many");
    handler = respond(502);
    expect(await failure(post())).toMatchObject({ kind: "transient", status: 502 });
    handler = respond(302, "", { location: "https://elsewhere.example/" });
    expect(await failure(post())).toMatchObject({ kind: "permanent", status: 302 });
    const before = seen.length;
    const foreign = http().post("https://elsewhere.example/batch", { body: "x", contentType: "text/plain" });
    expect(await failure(foreign)).toMatchObject({ kind: "permanent" });
    expect(seen.length).toBe(before);
  });

  it("takes one token per call of a batch, in one request", async () => {
    handler = respond(200, "");
    const client = http({ bucketKey: "batch-bucket" });
    const before = seen.length;
    const started = performance.now();
    await client.post("/batch", { body: "x", contentType: "text/plain", calls: 3 });
    // Burst 1, then 5 per second: three calls are due ~400 ms after the first.
    expect(performance.now() - started).toBeGreaterThanOrEqual(380);
    expect(seen.length - before).toBe(1);
    expect(client.requests).toBe(1);
    expect(client.lastRequest).toBe("POST /api/batch");

    handler = () => {};
    const controller = new AbortController();
    const pending = http({ signal: controller.signal, timeoutMs: 5_000 }).post("/batch", {
      body: "x",
      contentType: "text/plain",
      calls: 2,
    });
    setTimeout(() => controller.abort(), 50);
    await expect(pending).rejects.toBeInstanceOf(PollAbortedError);
  });
});
