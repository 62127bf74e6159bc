// The client against real node:http servers started here, one behaviour each.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { HttpRequestError } from "./errors.ts";
import { createHttpClient, type Timeouts } from "./http-client.ts";
import { parseRetryAfter } from "./retry-after.ts";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

type TestServer = { url: (path: string) => URL; connections: () => number };

const servers: Server[] = [];

async function startServer(handler: Handler): Promise<TestServer> {
  let connections = 0;
  const server = createServer(handler);
  server.on("connection", () => {
    connections += 1;
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: (path) => new URL(path, `http://127.0.0.1:${port}`), connections: () => connections };
}

/** Reads the whole request, then runs `then` (the server has received everything that was sent). */
function afterRequest(then: Handler): Handler {
  return (req, res) => {
    req.resume();
    req.on("end", () => then(req, res));
  };
}

const limits: Timeouts = { sendMs: 1_000, answerMs: 2_000 };
const client = createHttpClient({ timeouts: limits, maxBodyBytes: 1024 });

afterEach(() => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

afterAll(async () => {
  await client.close();
});

async function failure(promise: Promise<unknown>): Promise<HttpRequestError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(HttpRequestError);
  return err as HttpRequestError;
}

describe("createHttpClient", () => {
  it("sends a body with its length, and answers the status, headers and UTF-8 text", async () => {
    let received: { method?: string; length?: string; type?: string; body: string } = { body: "" };
    const server = await startServer((req, res) => {
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (chunk: string) => {
        body += chunk;
      });
      req.on("end", () => {
        received = {
          method: req.method,
          length: req.headers["content-length"],
          type: req.headers["content-type"],
          body,
        };
        res.writeHead(201, [
          ["content-type", "text/plain; charset=utf-8"],
          ["set-cookie", "a=1"],
          ["set-cookie", "b=2"],
        ]);
        // Split inside the two bytes of "é": the text is decoded from the whole body.
        const answer = Buffer.from("créé");
        res.write(answer.subarray(0, 3));
        res.end(answer.subarray(3));
      });
    });
    const statuses: Array<number | "error"> = [];
    const response = await client.request(server.url("/items"), {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: "ça",
      observe: (status) => statuses.push(status),
    });
    expect(received).toEqual({ method: "POST", length: "3", type: "text/plain", body: "ça" });
    expect(response.status).toBe(201);
    expect(response.text).toBe("créé");
    expect(response.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(response.headers.getSetCookie()).toEqual(["a=1", "b=2"]);
    expect(statuses).toEqual([201]);
  });

  it("keeps connections alive and reuses them", async () => {
    const server = await startServer((_req, res) => res.end("ok"));
    // undici hands a connection to the next request one event-loop turn after its answer ended
    // (a server that said keep-alive may still close it); a request sooner takes another one.
    const turn = () => new Promise((resolve) => setImmediate(resolve));
    for (let i = 0; i < 5; i++) {
      await client.request(server.url("/"));
      await turn();
    }
    expect(server.connections()).toBe(1);
    for (let i = 0; i < 3; i++) {
      await Promise.all([client.request(server.url("/")), client.request(server.url("/"))]);
      await turn();
    }
    expect(server.connections()).toBe(2);
  });

  it("does not follow redirects", async () => {
    const server = await startServer((_req, res) => {
      res.writeHead(302, { location: "/elsewhere" });
      res.end();
    });
    const response = await client.request(server.url("/"));
    expect(response.status).toBe(302);
    expect(response.headers.get("location")).toBe("/elsewhere");
  });

  it("times out waiting for headers, after the request was sent", async () => {
    const server = await startServer(() => {}); // reads the request, never answers
    const statuses: Array<number | "error"> = [];
    const started = performance.now();
    const err = await failure(
      client.request(server.url("/slow"), {
        timeouts: { sendMs: 1_000, answerMs: 5_000, headersMs: 200 },
        observe: (status) => statuses.push(status),
      }),
    );
    expect(err).toMatchObject({ reason: "timeout", phase: "headers", sent: true });
    expect(err.message).toBe(`GET ${server.url("/slow").href}: timed out waiting for the response headers`);
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(statuses).toEqual(["error"]);
  });

  it("times out a body that stalls, by the body limit or by the answer limit", async () => {
    const server = await startServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.write('{"partial":'); // and nothing more
    });
    const byBody = await failure(
      client.request(server.url("/"), { timeouts: { sendMs: 1_000, answerMs: 5_000, bodyMs: 150 } }),
    );
    expect(byBody).toMatchObject({ reason: "timeout", phase: "body", sent: true });
    const started = performance.now();
    const byAnswer = await failure(
      client.request(server.url("/"), { timeouts: { sendMs: 1_000, answerMs: 250 } }),
    );
    expect(byAnswer).toMatchObject({ reason: "timeout", phase: "body", sent: true });
    expect(performance.now() - started).toBeGreaterThanOrEqual(240);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it("bounds the whole exchange by totalMs", async () => {
    const server = await startServer(() => {});
    const started = performance.now();
    const err = await failure(
      client.request(server.url("/"), { timeouts: { sendMs: 300, answerMs: 300, totalMs: 300 } }),
    );
    expect(err).toMatchObject({ reason: "timeout", phase: "headers", sent: true });
    expect(performance.now() - started).toBeLessThan(450);
  });

  it("reports a connection reset after the request was received as sent (the answer is lost)", async () => {
    const server = await startServer(afterRequest((req) => req.socket.destroy()));
    const err = await failure(client.request(server.url("/token"), { method: "POST", body: "grant=x" }));
    expect(err).toMatchObject({ reason: "network", phase: "headers", sent: true });
    expect(err.code).toMatch(/^(ECONNRESET|UND_ERR_SOCKET)$/);
  });

  it("reports a refused connection as not sent, with the system code", async () => {
    const server = await startServer(() => {});
    const url = server.url("/");
    for (const s of servers.splice(0)) await new Promise((resolve) => s.close(resolve));
    const err = await failure(client.request(url));
    expect(err).toMatchObject({ reason: "network", phase: "connect", sent: false, code: "ECONNREFUSED" });
    expect(err.message).toBe(`GET ${url.href}: ECONNREFUSED while connecting`);
  });

  it("times out a request that cannot get a connection as not sent", async () => {
    const oneConnection = createHttpClient({ timeouts: limits, maxBodyBytes: 1024, connectionsPerOrigin: 1 });
    const server = await startServer(() => {}); // holds the only connection
    const holding = oneConnection.request(server.url("/hold"), {
      timeouts: { sendMs: 1_000, answerMs: 400 },
    });
    const err = await failure(
      oneConnection.request(server.url("/queued"), { timeouts: { sendMs: 200, answerMs: 2_000 } }),
    );
    expect(err).toMatchObject({ reason: "timeout", phase: "connect", sent: false });
    expect((await failure(holding)).phase).toBe("headers");
    await oneConnection.close();
  });

  it("refuses a body larger than its bound", async () => {
    const server = await startServer((_req, res) => res.end("x".repeat(4096)));
    const err = await failure(client.request(server.url("/")));
    expect(err).toMatchObject({ reason: "body_too_large", phase: "body", sent: true });
    expect(err.message).toContain("response body larger than 1024 bytes");
    // The same bound, raised for one request.
    expect((await client.request(server.url("/"), { maxBodyBytes: 8192 })).text).toHaveLength(4096);
  });

  it("ends an exchange when the caller's signal aborts", async () => {
    const server = await startServer(() => {});
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const err = await failure(client.request(server.url("/"), { signal: controller.signal }));
    expect(err).toMatchObject({ reason: "aborted", phase: "headers", sent: true });
    const before = server.connections();
    const early = await failure(client.request(server.url("/"), { signal: AbortSignal.abort() }));
    expect(early).toMatchObject({ reason: "aborted", phase: "connect", sent: false });
    expect(server.connections()).toBe(before);
  });

  it("keeps credentials out of its errors", async () => {
    const secret = "tok3n-Secret-Value-123456";
    const server = await startServer(() => {});
    const err = await failure(
      client.request(server.url(`/v1/items?access_token=${secret}&page=2`), {
        headers: { authorization: `Bearer ${secret}` },
        body: `refresh_token=${secret}`,
        method: "POST",
        timeouts: { sendMs: 1_000, answerMs: 100 },
      }),
    );
    expect(err.message).toBe(
      `POST ${server.url("/").origin}/v1/items?access_token=[redacted]&page=2: timed out waiting for the response headers`,
    );
    expect(`${err.stack} ${JSON.stringify(err)} ${String(err.cause)}`).not.toContain(secret);
  });

  it("hands Retry-After over as sent, for parseRetryAfter", async () => {
    const at = new Date(Date.now() + 90_000);
    at.setMilliseconds(0);
    const values = ["7", at.toUTCString()];
    const server = await startServer((_req, res) => {
      res.writeHead(429, { "retry-after": values.shift() ?? "" });
      res.end();
    });
    const seconds = await client.request(server.url("/"));
    expect(parseRetryAfter(seconds.headers.get("retry-after"), Date.now())).toBe(7_000);
    const dated = await client.request(server.url("/"));
    const now = Date.now();
    expect(parseRetryAfter(dated.headers.get("retry-after"), now)).toBe(at.getTime() - now);
  });
});
