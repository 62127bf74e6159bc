import { describe, expect, it } from "vitest";
import { apiGet, startSimulator, type TestSimulator } from "../../../test-support.ts";

const METADATA = "format=metadata&metadataHeaders=From&metadataHeaders=Subject";

type Part = { contentId: string | null; status: number; headers: Record<string, string>; body: string };

function batchUrl(sim: TestSimulator): string {
  return `${sim.control.apiUrl("gmail")}/batch/gmail/v1`;
}

/** A batch body as Google's client libraries write it: one `application/http` part per request line. */
function batchBody(boundary: string, requests: readonly string[], eol = "\r\n"): string {
  const parts = requests.map(
    (line, i) =>
      `--${boundary}${eol}Content-Type: application/http${eol}Content-ID: <item-${i + 1}>${eol}${eol}${line}${eol}`,
  );
  return `${parts.join("")}--${boundary}--${eol}`;
}

async function postBatch(
  sim: TestSimulator,
  token: string | null,
  body: string,
  contentType = "multipart/mixed; boundary=sim_batch",
): Promise<{ status: number; contentType: string; text: string; elapsedMs: number }> {
  const started = performance.now();
  const response = await fetch(batchUrl(sim), {
    method: "POST",
    headers: { "content-type": contentType, ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
    body,
  });
  const text = await response.text();
  return {
    status: response.status,
    contentType: response.headers.get("content-type") ?? "",
    text,
    elapsedMs: performance.now() - started,
  };
}

/** The parts of a multipart answer (a deliberately plain reading: the poller has the robust one). */
function parts(contentType: string, text: string): Part[] {
  const boundary = /boundary=([^;\s]+)/.exec(contentType)?.[1];
  expect(boundary).toBeDefined();
  expect(text.endsWith(`--${boundary}--\r\n`)).toBe(true);
  return text
    .slice(0, text.lastIndexOf(`--${boundary}--`))
    .split(`--${boundary}\r\n`)
    .slice(1)
    .map((raw) => {
      const [head = "", inner = ""] = raw.split(/\r\n\r\n(.*)/s);
      const [status = "", body = ""] = inner.split(/\r\n\r\n(.*)/s);
      const [statusLine = "", ...headerLines] = status.split("\r\n");
      const headers = Object.fromEntries(
        headerLines.map((line) => [
          line.slice(0, line.indexOf(":")).toLowerCase(),
          line.slice(line.indexOf(":") + 2),
        ]),
      );
      expect(head).toMatch(/^Content-Type: application\/http\r\n/);
      return {
        contentId: /Content-ID: <(.*)>/.exec(head)?.[1] ?? null,
        status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(statusLine)?.[1]),
        headers,
        body: body.replace(/\r\n$/, ""),
      };
    });
}

async function messageIds(sim: TestSimulator, token: string, count: number): Promise<string[]> {
  const list = await apiGet<{ messages: Array<{ id: string }> }>(
    `${sim.control.apiUrl("gmail")}/gmail/v1/users/me/messages?maxResults=${count}`,
    token,
  );
  return list.json.messages.map((m) => m.id);
}

const get = (id: string, query = METADATA): string => `GET /gmail/v1/users/me/messages/${id}?${query}`;

describe("Gmail batch endpoint", () => {
  it("answers each call as a direct GET would, in order, with response-<Content-ID>; 404 for a missing message", async () => {
    const sim = await startSimulator();
    const grant = await sim.control.createGrant({ provider: "google", connectionKey: "gb-1" });
    const ids = await messageIds(sim, grant.accessToken, 3);
    const lines = [
      ...ids.map((id) => get(id)),
      get("ffffffffffffffff"),
      "GET /gmail/v1/users/me/profile HTTP/1.1",
    ];

    const answer = await postBatch(sim, grant.accessToken, batchBody("sim_batch", lines));
    expect(answer.status).toBe(200);
    expect(answer.contentType).toMatch(/^multipart\/mixed; boundary=batch_/);
    const answered = parts(answer.contentType, answer.text);
    expect(answered.map((p) => [p.contentId, p.status])).toEqual([
      ["response-item-1", 200],
      ["response-item-2", 200],
      ["response-item-3", 200],
      ["response-item-4", 404],
      ["response-item-5", 200],
    ]);
    // One log entry per call, as if sent alone, and one for the batch.
    const log = await sim.control.requests({ connectionKey: "gb-1", resource: "gmail" });
    expect(log.slice(-6).map((r) => [r.resource, r.path, r.status])).toEqual([
      ...ids.map((id) => ["gmail.messages", `/gmail/gmail/v1/users/me/messages/${id}`, 200]),
      ["gmail.messages", "/gmail/gmail/v1/users/me/messages/ffffffffffffffff", 404],
      ["gmail.profile", "/gmail/gmail/v1/users/me/profile", 200],
      ["gmail.batch", "/gmail/batch/gmail/v1", 200],
    ]);

    for (const [i, id] of ids.entries()) {
      const direct = await apiGet(`${sim.control.apiUrl("gmail")}${get(id).slice(4)}`, grant.accessToken);
      expect(JSON.parse(answered[i]?.body ?? "")).toEqual(direct.json);
      expect(answered[i]?.headers["content-type"]).toBe("application/json; charset=UTF-8");
    }
    expect(JSON.parse(answered[3]?.body ?? "")).toMatchObject({ error: { code: 404, status: "NOT_FOUND" } });
    expect(JSON.parse(answered[4]?.body ?? "")).toHaveProperty("historyId");
  });

  it("authenticates each call with the batch's token unless the part carries its own", async () => {
    const sim = await startSimulator();
    const grant = await sim.control.createGrant({ provider: "google", connectionKey: "gb-2" });
    const [id = ""] = await messageIds(sim, grant.accessToken, 1);
    const own = `${get(id)}\r\nAuthorization: Bearer ${grant.accessToken}`;

    const anonymous = await postBatch(sim, null, batchBody("sim_batch", [get(id), own]));
    expect(anonymous.status).toBe(200);
    const [refused, allowed] = parts(anonymous.contentType, anonymous.text);
    expect(refused).toMatchObject({
      status: 401,
      headers: { "www-authenticate": expect.stringContaining("Bearer") },
    });
    expect(JSON.parse(refused?.body ?? "")).toMatchObject({
      error: { code: 401, status: "UNAUTHENTICATED" },
    });
    expect(allowed?.status).toBe(200);

    const badToken = await postBatch(sim, "not-a-token", batchBody("sim_batch", [get(id)]));
    expect(parts(badToken.contentType, badToken.text)[0]?.status).toBe(401);
  });

  it("lets each call fail on its own: 429 with Retry-After, 500, a truncated body, an unknown path", async () => {
    const sim = await startSimulator();
    const grant = await sim.control.createGrant({ provider: "google", connectionKey: "gb-3" });
    const ids = await messageIds(sim, grant.accessToken, 4);
    const path = "/gmail/gmail/v1/users/me/messages/";
    await sim.control.addFault({
      connectionKey: "gb-3",
      path: `${path}${ids[1]}`,
      fault: { kind: "status", status: 429, retryAfter: 7, error: "userRateLimitExceeded" },
    });
    await sim.control.addFault({
      connectionKey: "gb-3",
      path: `${path}${ids[2]}`,
      fault: { kind: "status", status: 500 },
    });
    await sim.control.addFault({
      connectionKey: "gb-3",
      path: `${path}${ids[3]}`,
      fault: { kind: "malformed" },
    });

    const lines = [
      ...ids.map((id) => get(id)),
      "GET /gmail/v1/users/me/drafts",
      "DELETE /gmail/v1/users/me/profile",
    ];
    const answer = await postBatch(sim, grant.accessToken, batchBody("sim_batch", lines));
    const [ok, limited, broken, truncated, unknown, wrongMethod] = parts(answer.contentType, answer.text);
    expect(ok?.status).toBe(200);
    expect(limited).toMatchObject({ status: 429, headers: { "retry-after": "7" } });
    expect(JSON.parse(limited?.body ?? "")).toMatchObject({
      error: { code: 429, errors: [{ reason: "userRateLimitExceeded" }] },
    });
    expect(broken?.status).toBe(500);
    expect(truncated?.status).toBe(200);
    expect(() => JSON.parse(truncated?.body ?? "")).toThrow();
    expect(unknown?.status).toBe(404);
    expect(wrongMethod?.status).toBe(404);
  });

  it("takes faults aimed at the batch itself: an error for the whole batch, or its answer cut off", async () => {
    const sim = await startSimulator();
    const grant = await sim.control.createGrant({ provider: "google", connectionKey: "gb-4" });
    const ids = await messageIds(sim, grant.accessToken, 3);
    const body = batchBody(
      "sim_batch",
      ids.map((id) => get(id)),
    );
    await sim.control.addFault({
      connectionKey: "gb-4",
      path: "/gmail/batch/gmail/v1",
      fault: { kind: "status", status: 503 },
    });
    await sim.control.addFault({ connectionKey: "gb-4", path: "/gmail/batch", fault: { kind: "malformed" } });

    const unavailable = await postBatch(sim, grant.accessToken, body);
    expect(unavailable.status).toBe(503);
    expect(JSON.parse(unavailable.text)).toMatchObject({ error: { code: 503, status: "UNAVAILABLE" } });

    const cut = await postBatch(sim, grant.accessToken, body);
    expect(cut.status).toBe(200);
    const boundary = /boundary=(\S+)/.exec(cut.contentType)?.[1];
    expect(cut.text.startsWith(`--${boundary}\r\n`)).toBe(true);
    expect(cut.text).not.toContain(`--${boundary}--`);

    const whole = await postBatch(sim, grant.accessToken, body);
    expect(parts(whole.contentType, whole.text).map((p) => p.status)).toEqual([200, 200, 200]);
    const batches = (await sim.control.requests({ connectionKey: "gb-4", resource: "gmail.batch" })).map(
      (r) => [r.status, r.fault],
    );
    expect(batches).toEqual([
      [503, "status"],
      [200, "malformed"],
      [200, null],
    ]);
  });

  it("leaves the whole batch unanswered when one call times out", async () => {
    const sim = await startSimulator();
    const grant = await sim.control.createGrant({ provider: "google", connectionKey: "gb-8" });
    const ids = await messageIds(sim, grant.accessToken, 2);
    await sim.control.addFault({
      connectionKey: "gb-8",
      path: `/gmail/gmail/v1/users/me/messages/${ids[1]}`,
      fault: { kind: "timeout" },
    });
    const pending = fetch(batchUrl(sim), {
      method: "POST",
      headers: {
        "content-type": "multipart/mixed; boundary=sim_batch",
        authorization: `Bearer ${grant.accessToken}`,
      },
      body: batchBody(
        "sim_batch",
        ids.map((id) => get(id)),
      ),
    }).then(
      () => "answered",
      (err: unknown) => err,
    );
    await expect.poll(() => sim.hangingRequests()).toBe(1);
    const log = sim.state.requests({ connectionKey: "gb-8", resource: "gmail" });
    expect(log.slice(-3).map((r) => [r.resource, r.status, r.fault])).toEqual([
      ["gmail.messages", 200, null],
      ["gmail.messages", null, "timeout"],
      ["gmail.batch", null, null],
    ]);
    // Closing cuts it off rather than waiting for it.
    await sim.close();
    expect(await pending).toBeInstanceOf(Error);
  });

  it("counts every call against the data rate limit, and applies the latency once per batch", async () => {
    const sim = await startSimulator();
    const grant = await sim.control.createGrant({ provider: "google", connectionKey: "gb-5" });
    const ids = await messageIds(sim, grant.accessToken, 5);
    await sim.control.setRateLimit({ provider: "google", scope: "data", requestsPerSecond: 1, burst: 3 });
    await sim.control.setLatency({ ms: 300, jitterMs: 0 });

    const answer = await postBatch(
      sim,
      grant.accessToken,
      batchBody(
        "sim_batch",
        ids.map((id) => get(id)),
      ),
    );
    expect(parts(answer.contentType, answer.text).map((p) => p.status)).toEqual([200, 200, 200, 429, 429]);
    expect(parts(answer.contentType, answer.text)[3]?.headers["retry-after"]).toMatch(/^\d+$/);
    expect(answer.elapsedMs).toBeGreaterThanOrEqual(290);
    expect(answer.elapsedMs).toBeLessThan(600);
  });

  it("reads LF line ends and quoted boundaries, as a lenient server does", async () => {
    const sim = await startSimulator();
    const grant = await sim.control.createGrant({ provider: "google", connectionKey: "gb-6" });
    const ids = await messageIds(sim, grant.accessToken, 2);
    const answer = await postBatch(
      sim,
      grant.accessToken,
      `preamble\n${batchBody(
        "a'b(c)",
        ids.map((id) => get(id, "format=minimal")),
        "\n",
      )}epilogue`,
      `multipart/mixed; charset=utf-8; boundary="a'b(c)"`,
    );
    expect(parts(answer.contentType, answer.text).map((p) => p.status)).toEqual([200, 200]);
  });

  it("rejects what is not a batch with 400 in Google's shape", async () => {
    const sim = await startSimulator();
    const grant = await sim.control.createGrant({ provider: "google", connectionKey: "gb-7" });
    const part = get("0123456789abcdef");
    const cases: Array<[string, string, RegExp]> = [
      ["application/json", "{}", /multipart\/mixed/],
      ["multipart/mixed", batchBody("x", [part]), /multipart\/mixed with a boundary/],
      ["multipart/mixed; boundary=x", "", /empty/],
      ["multipart/mixed; boundary=x", "no delimiter at all", /no boundary delimiter/],
      ["multipart/mixed; boundary=x", `--x\r\nContent-Type: application/http\r\n\r\n${part}\r\n`, /closing/],
      ["multipart/mixed; boundary=x", "--x--\r\n", /no requests/],
      [
        "multipart/mixed; boundary=x",
        `--x\r\nContent-Type: text/plain\r\n\r\n${part}\r\n--x--`,
        /application\/http/,
      ],
      ["multipart/mixed; boundary=x", batchBody("x", ["GET relative/path"]), /request line/],
      [
        "multipart/mixed; boundary=x",
        batchBody(
          "x",
          Array.from({ length: 101 }, () => part),
        ),
        /at most 100/,
      ],
    ];
    for (const [contentType, body, message] of cases) {
      const answer = await postBatch(sim, grant.accessToken, body, contentType);
      expect(answer.status, body.slice(0, 40)).toBe(400);
      const error = JSON.parse(answer.text) as { error: { code: number; status: string; message: string } };
      expect(error.error).toMatchObject({ code: 400, status: "INVALID_ARGUMENT" });
      expect(error.error.message).toMatch(message);
    }
    // None of them reached a data endpoint.
    const log = await sim.control.requests({ connectionKey: "gb-7" });
    expect(log.map((r) => [r.resource, r.status])).toEqual(cases.map(() => ["gmail.batch", 400]));
  });
});
