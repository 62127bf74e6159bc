import { connect } from "node:net";
import { Writable } from "node:stream";
import { rawHttp } from "@syncwell/testing";
import type { FastifyInstance } from "fastify";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { bearerAuth } from "./bearer-auth.ts";
import { createHttpServer } from "./http-server.ts";
import { parseInput } from "./request-input.ts";
import { sleep } from "./sleep.ts";

// Hostile input against the runtime alone, over a real listening server: what every service
// inherits without writing anything. The services' own tests send the same over their real routes
// and check that nothing stored changed.

const SECRET = "runtime-test-secret-0123456789";
const auth = { authorization: `Bearer ${SECRET}` };
const TIMEOUTS = { requestMs: 600, headersMs: 300, keepAliveMs: 400 };

let app: FastifyInstance;
let url: string;
const logLines: Array<Record<string, unknown>> = [];
/** Bodies that reached a handler: hostile input must never get that far. */
const handled: unknown[] = [];

beforeAll(async () => {
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString("utf8").split("\n").filter(Boolean)) logLines.push(JSON.parse(line));
      callback();
    },
  });
  app = createHttpServer({
    logger: pino({ level: "debug" }, stream),
    readiness: [],
    registry: new Registry(),
    timeouts: TIMEOUTS,
  });
  await app.register(async (scope) => {
    scope.addHook("onRequest", bearerAuth(SECRET, { realm: "test" }));
    scope.post("/items", async (request, reply) => {
      const body = parseInput(
        z.strictObject({ name: z.string().min(1), tags: z.array(z.string()).optional() }),
        request.body,
        "body",
      );
      handled.push(body);
      return reply.code(201).send(body);
    });
    scope.get("/items/:id", async (request) => {
      const { id } = parseInput(z.object({ id: z.uuid() }), request.params, "params");
      const query = parseInput(
        z.strictObject({ limit: z.coerce.number().max(10).optional() }),
        request.query,
        "query",
      );
      return { id, query };
    });
  });
  url = await app.listen({ host: "127.0.0.1", port: 0 });
});

afterAll(async () => {
  await app?.close();
});

function post(body: string | Buffer, headers: Record<string, string> = auth) {
  return fetch(`${url}/items`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });
}

describe("strings no service can store", () => {
  it.each([
    ["a NUL", '{"name":"a\\u0000b"}', "body.name", /NUL/],
    ["a lone surrogate", '{"name":"a\\ud800b"}', "body.name", /surrogate/],
    ["only spaces", '{"name":"   "}', "body.name", /only of spaces/],
    ["only controls", '{"name":"\\u0001\\t\\n"}', "body.name", /only of spaces/],
    ["only bidi marks", '{"name":"\\u202e\\u200f\\u2066"}', "body.name", /invisible/],
    ["a NUL in an array item", '{"name":"ok","tags":["x","\\u0000"]}', "body.tags.1", /NUL/],
    ["a NUL in a member name", '{"name":"ok","a\\u0000":1}', "body", /member name/],
  ])("refuses %s with a 400 naming the field", async (_label, body, path, message) => {
    const res = await post(body);
    expect(res.status).toBe(400);
    const json = (await res.json()) as { error: string; details: Array<{ path: string; message: string }> };
    expect(json.error).toBe("bad_request");
    expect(json.details).toContainEqual({ path, message: expect.stringMatching(message) });
  });

  it("refuses them in the query and params too, and only after authentication", async () => {
    const id = "0193a0f0-0b7e-7a41-8c65-2f9d3e4a5b01";
    const inQuery = await fetch(`${url}/items/${id}?limit=%00`, { headers: auth });
    expect(inQuery.status).toBe(400);
    expect(((await inQuery.json()) as { details: unknown[] }).details).toContainEqual({
      path: "query.limit",
      message: expect.stringMatching(/NUL/),
    });
    const inParams = await fetch(`${url}/items/%E2%80%AE`, { headers: auth });
    expect(inParams.status).toBe(400);
    expect(((await inParams.json()) as { details: unknown[] }).details).toContainEqual({
      path: "params.id",
      message: expect.stringMatching(/invisible/),
    });
    expect((await post('{"name":"a\\u0000b"}', {})).status).toBe(401);
  });

  it("refuses a body that is not UTF-8, and nesting deeper than 32 levels", async () => {
    const bytes = Buffer.concat([Buffer.from('{"name":"a'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
    const notUtf8 = await post(bytes);
    expect(notUtf8.status).toBe(400);
    expect(await notUtf8.json()).toMatchObject({
      details: [{ path: "body", message: "is not valid UTF-8" }],
    });

    const deep = await post(`{"name":"x","tags":${"[".repeat(5000)}${"]".repeat(5000)}}`);
    expect(deep.status).toBe(400);
    expect(JSON.stringify(await deep.json())).toMatch(/nested more than 32 levels/);
    expect(handled).toEqual([]);
  });
});

describe("framework errors in the one format", () => {
  it("answers a path parameter of any length after authentication, with the route's 400", async () => {
    const long = "a".repeat(5000);
    expect((await fetch(`${url}/items/${long}`)).status).toBe(401);
    const res = await fetch(`${url}/items/${long}`, { headers: auth });
    expect(res.status).toBe(400);
    const body = await res.text();
    expect(JSON.parse(body)).toMatchObject({ error: "bad_request", details: [{ path: "params.id" }] });
    expect(body).not.toContain(long);
  });

  it("answers a malformed percent-encoding without echoing the path", async () => {
    const res = await fetch(`${url}/items/%E0%A4%A`, { headers: auth });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: "bad_request",
      message: "url is not a valid URL (malformed percent-encoding)",
      details: [{ path: "url", message: "is not a valid URL (malformed percent-encoding)" }],
    });
  });

  it("answers body errors with fixed messages located at the part at fault", async () => {
    const media = await fetch(`${url}/items`, {
      method: "POST",
      headers: { ...auth, "content-type": "text/evil<script>" },
      body: "x",
    });
    expect(media.status).toBe(415);
    const mediaBody = await media.text();
    expect(JSON.parse(mediaBody)).toMatchObject({
      error: "unsupported_media_type",
      details: [{ path: "headers.content-type" }],
    });
    expect(mediaBody).not.toContain("script");
    const text = await fetch(`${url}/items`, {
      method: "POST",
      headers: { ...auth, "content-type": "text/plain" },
      body: '{"name":"x"}',
    });
    expect(text.status).toBe(415);
    expect(await text.json()).toMatchObject({ error: "unsupported_media_type" });

    const poisoned = await post('{"name":"x","__proto__":{"admin":true}}');
    expect(poisoned.status).toBe(400);
    expect(await poisoned.json()).toMatchObject({
      details: [{ path: "body", message: "is not valid JSON" }],
    });

    const huge = await post(JSON.stringify({ name: "x".repeat(1_100_000) }));
    expect(huge.status).toBe(413);
    expect(await huge.json()).toMatchObject({ error: "payload_too_large", details: [{ path: "body" }] });
  });

  it("answers 431 and unparseable requests in the format, then closes", async () => {
    const big = await rawHttp(url, `GET /items HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`);
    expect(big.status).toBe(431);
    expect(big.json).toMatchObject({
      error: "request_header_fields_too_large",
      details: [{ path: "headers" }],
    });
    expect(big.closedByServer).toBe(true);

    const garbage = await rawHttp(url, "HELLO /items WORLD\r\n\r\n");
    expect(garbage.status).toBe(400);
    expect(garbage.json).toEqual({
      error: "bad_request",
      message: "request is not valid HTTP/1.1",
      details: [{ path: "request", message: "is not valid HTTP/1.1" }],
    });
  });

  it("answers 404 and 500 in the format", async () => {
    const missing = await fetch(`${url}/${"x".repeat(3000)}?token=abc`, { headers: auth });
    expect(missing.status).toBe(404);
    const body = (await missing.json()) as { error: string; message: string };
    expect(body.error).toBe("not_found");
    expect(body.message.length).toBeLessThan(200);
    expect(body.message).not.toContain("token");
  });
});

describe("time limits", () => {
  it("cuts off an authenticated body that stalls, with a 408", async () => {
    const res = await rawHttp(
      url,
      `POST /items HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${SECRET}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{`,
    );
    expect(res.closedByServer).toBe(true);
    expect(res.status).toBe(408);
    expect(res.json).toMatchObject({ error: "request_timeout" });
    expect(res.elapsedMs).toBeGreaterThanOrEqual(TIMEOUTS.requestMs - 50);
    expect(res.elapsedMs).toBeLessThan(TIMEOUTS.requestMs + 1_000);
    expect(handled).toEqual([]);
  });

  it("cuts off headers that never end, with a 408", async () => {
    const res = await rawHttp(url, "GET /items HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n");
    expect(res.closedByServer).toBe(true);
    expect(res.status).toBe(408);
    expect(res.elapsedMs).toBeLessThan(TIMEOUTS.headersMs + 1_000);
  });

  it("closes an idle keep-alive connection after the keep-alive timeout", async () => {
    const res = await rawHttp(url, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", { waitMs: 5_000 });
    expect(res.status).toBe(200);
    expect(res.closedByServer).toBe(true);
    expect(res.elapsedMs).toBeGreaterThanOrEqual(TIMEOUTS.keepAliveMs - 50);
    // Node adds up to a second to the keep-alive timeout before it closes.
    expect(res.elapsedMs).toBeLessThan(TIMEOUTS.keepAliveMs + 2_500);
  });
});

describe("request logs", () => {
  it("redact sensitive query parameters", async () => {
    const id = "0193a0f0-0b7e-7a41-8c65-2f9d3e4a5b99";
    await fetch(`${url}/items/${id}?access_token=ya29-SECRET&limit=5&X-Api-Key=k-SECRET&code=c-SECRET`, {
      headers: auth,
    });
    const logged = logLines.find((l) => l.msg === "incoming request" && JSON.stringify(l).includes(id));
    expect((logged?.req as { url?: string } | undefined)?.url).toBe(
      `/items/${id}?access_token=[redacted]&limit=5&X-Api-Key=[redacted]&code=[redacted]`,
    );
    expect(JSON.stringify(logLines)).not.toContain("SECRET");
  });

  it("generate the request id, log a client's safe one beside it, and drop an unsafe one", async () => {
    const safe = await fetch(`${url}/healthz`, { headers: { "x-request-id": "lb-7f3c2a:12" } });
    const ours = safe.headers.get("x-request-id");
    expect(ours).toMatch(/^[0-9a-f-]{36}$/);
    await fetch(`${url}/items/nope`, { headers: { ...auth, "x-request-id": "client-abc.1" } });
    const line = logLines.find((l) => l.clientRequestId === "client-abc.1");
    expect(line?.reqId).toMatch(/^[0-9a-f-]{36}$/);

    const forged = `${String(line?.reqId)} {"level":60}`;
    const res = await fetch(`${url}/items/nope`, { headers: { ...auth, "x-request-id": forged } });
    expect(res.headers.get("x-request-id")).not.toBe(forged);
    expect(logLines.some((l) => l.clientRequestId === forged || l.reqId === forged)).toBe(false);
  });
});

describe("shutting down", () => {
  it("answers a request that arrives on an open connection during close with a 503 in the format", async () => {
    const closingApp = createHttpServer({
      logger: pino({ level: "silent" }),
      readiness: [],
      registry: new Registry(),
    });
    let release = () => {};
    closingApp.get("/slow", () => new Promise((resolve) => (release = () => resolve({ ok: true }))));
    const address = new URL(await closingApp.listen({ host: "127.0.0.1", port: 0 }));
    // A keep-alive connection busy with a slow request: close() waits for it, and the next request
    // pipelined on it arrives while the server is closing.
    const socket = connect({ host: address.hostname, port: Number(address.port) });
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    await new Promise((resolve) => socket.on("connect", resolve));
    socket.write("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
    await sleep(100);
    const closed = closingApp.close();
    await sleep(100);
    socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    await sleep(100);
    release();
    await closed;
    await sleep(50);
    socket.destroy();
    const text = Buffer.concat(chunks).toString("utf8");
    expect(text).toContain("HTTP/1.1 503");
    expect(text).toContain('{"error":"service_unavailable","message":"the service is shutting down');
  });
});
