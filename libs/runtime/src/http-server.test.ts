import { Writable } from "node:stream";
import type { FastifyInstance } from "fastify";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { createHttpServer, type ReadinessCheck } from "./http-server.ts";

function captureLogger(level = "info") {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString("utf8").split("\n").filter(Boolean)) {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      callback();
    },
  });
  return { logger: pino({ level }, stream), lines };
}

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

function server(readiness: ReadinessCheck[] = [], level = "info") {
  const { logger, lines } = captureLogger(level);
  const registry = new Registry();
  app = createHttpServer({ logger, readiness, registry, readinessTimeoutMs: 150 });
  return { app, lines, registry };
}

describe("probes", () => {
  it("GET /healthz answers ok over real HTTP", async () => {
    const { app } = server();
    const address = await app.listen({ port: 0, host: "127.0.0.1" });
    const res = await fetch(`${address}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
  });

  it("GET /readyz is 200 when every check passes", async () => {
    const { app } = server([
      { name: "postgres", check: async () => {} },
      { name: "nats", check: () => {} },
    ]);
    const res = await app.inject({ method: "GET", url: "/readyz" });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: "ready", checks: { postgres: "ok", nats: "ok" } });
  });

  it("GET /readyz is 503 naming each failure, with a per-check timeout", async () => {
    const { app, lines } = server([
      { name: "postgres", check: async () => {} },
      {
        name: "nats",
        check: async () => {
          throw new Error("connect ECONNREFUSED 127.0.0.1:4222 (nats://user:hunter2@127.0.0.1:4222)");
        },
      },
      { name: "slow", check: () => new Promise<void>(() => {}) },
    ]);
    const started = Date.now();
    const res = await app.inject({ method: "GET", url: "/readyz" });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({
      status: "not_ready",
      checks: { postgres: "ok", nats: "error", slow: "error" },
      errors: {
        nats: "connect ECONNREFUSED 127.0.0.1:4222 (nats://user:***@127.0.0.1:4222)",
        slow: "timed out after 150ms",
      },
    });
    expect(res.body).not.toContain("hunter2");
    // A failing check is logged once when it starts failing, not on every probe.
    await app.inject({ method: "GET", url: "/readyz" });
    expect(lines.filter((l) => l.msg === "readiness check failing").map((l) => l.check)).toEqual([
      "nats",
      "slow",
    ]);
  });

  it("GET /metrics serves Prometheus text with process and HTTP metrics", async () => {
    const { app, registry } = server();
    app.get("/things/:id", async () => ({ ok: true }));
    await app.inject({ method: "GET", url: "/things/42" });
    const res = await app.inject({ method: "GET", url: "/metrics" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toBe(registry.contentType);
    expect(res.body).toContain("process_cpu_user_seconds_total");
    expect(res.body).toContain("nodejs_eventloop_lag_seconds");
    expect(res.body).toMatch(
      /http_request_duration_seconds_count\{method="GET",route="\/things\/:id",status_code="200"\} 1/,
    );
    expect(res.body).not.toContain('route="/metrics"');
  });

  it("logs probe requests at debug and other requests at info", async () => {
    const { app, lines } = server([], "info");
    app.get("/work", async () => ({ done: true }));
    await app.inject({ method: "GET", url: "/healthz" });
    await app.inject({ method: "GET", url: "/readyz" });
    expect(lines).toEqual([]);
    await app.inject({ method: "GET", url: "/work" });
    expect(lines.map((l) => l.msg)).toEqual(["incoming request", "request completed"]);

    const debug = server([], "debug");
    await debug.app.inject({ method: "GET", url: "/healthz" });
    expect(debug.lines.filter((l) => l.level === 20).map((l) => l.msg)).toEqual([
      "incoming request",
      "request completed",
    ]);
  });
});

describe("error contract", () => {
  function withRoutes() {
    const s = server();
    s.app.post(
      "/echo",
      {
        schema: {
          body: {
            type: "object",
            properties: { name: { type: "string" }, age: { type: "integer" } },
            required: ["name"],
          },
        },
      },
      async (request) => request.body,
    );
    s.app.post("/zod", async (request) => z.object({ email: z.email() }).parse(request.body));
    s.app.get("/explode", async () => {
      throw new Error("db exploded while reading connection 7");
    });
    return s;
  }

  it("answers 400 with a clear message for a malformed JSON body", async () => {
    const { app } = withRoutes();
    const res = await app.inject({
      method: "POST",
      url: "/echo",
      headers: { "content-type": "application/json" },
      payload: '{"name": "ada",',
    });
    expect(res.statusCode).toBe(400);
    const body = res.json();
    expect(body.error).toBe("bad_request");
    expect(body.message).toMatch(/not valid JSON/i);
    expect(body.details).toEqual([{ path: "body", message: "is not valid JSON" }]);
    expect(res.body).not.toContain("at ");
  });

  it("maps schema validation errors to details with paths", async () => {
    const { app } = withRoutes();
    const res = await app.inject({ method: "POST", url: "/echo", payload: { age: "old" } });
    expect(res.statusCode).toBe(400);
    const body = res.json();
    expect(body.error).toBe("bad_request");
    expect(body.details).toContainEqual({ path: "body.name", message: "must have required property 'name'" });
  });

  it("maps zod errors thrown by a handler to 400 details", async () => {
    const { app } = withRoutes();
    const res = await app.inject({ method: "POST", url: "/zod", payload: { email: "nope" } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({
      error: "bad_request",
      details: [{ path: "email", message: expect.stringMatching(/email/i) }],
    });
  });

  it("answers 500 { error: internal } without leaking, and logs the error with context", async () => {
    const { app, lines } = withRoutes();
    const res = await app.inject({ method: "GET", url: "/explode?token=abc" });
    expect(res.statusCode).toBe(500);
    const logged = lines.find((l) => l.msg === "request failed");
    expect(res.json()).toEqual({
      error: "internal",
      message: `the server failed; the log has it under request id ${String(logged?.reqId)}`,
    });
    expect(logged).toMatchObject({
      level: 50,
      method: "GET",
      route: "/explode",
      path: "/explode",
      err: { message: "db exploded while reading connection 7" },
    });
    expect(logged?.reqId).toEqual(expect.any(String));
  });

  it("answers 404 in the same shape", async () => {
    const { app } = withRoutes();
    const res = await app.inject({ method: "GET", url: "/nowhere" });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: "not_found", message: "no route GET /nowhere" });
  });

  it("keeps 4xx errors thrown with a status code", async () => {
    const { app } = server();
    app.get("/gone", async () => {
      throw Object.assign(new Error("connection was revoked"), { statusCode: 410 });
    });
    const res = await app.inject({ method: "GET", url: "/gone" });
    expect(res.statusCode).toBe(410);
    expect(res.json()).toEqual({ error: "gone", message: "connection was revoked" });
  });
});
