import { describe, expect, it } from "vitest";
import { IDEMPOTENCY_WINDOW_MS } from "../emails.ts";
import { startSimulator, type TestSimulator } from "../test-support.ts";

const API_KEY = "re_test_0123456789";

const email = {
  from: "Syncwell <alerts@syncwell.test>",
  to: "ann@example.com",
  subject: "Your Gmail connection needs you",
  html: "<p>Reconnect</p>",
  text: "Reconnect",
  tags: [{ name: "kind", value: "disconnected" }],
};

type Sent = { status: number; headers: Headers; json: Record<string, unknown> | null };

async function send(
  sim: TestSimulator,
  body: unknown,
  headers: Record<string, string> = {},
  apiKey: string | null = API_KEY,
): Promise<Sent> {
  const response = await fetch(`${sim.control.emailApiUrl()}/emails`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(apiKey === null ? {} : { authorization: `Bearer ${apiKey}` }),
      ...headers,
    },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  let json: Record<string, unknown> | null = null;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = null;
  }
  return { status: response.status, headers: response.headers, json };
}

describe("POST /emails (Resend)", () => {
  it("sends an email, answers its id, and records it for the control API", async () => {
    const sim = await startSimulator();
    const res = await send(sim, {
      ...email,
      to: ["ann@example.com", "Bob <bob@example.com>"],
      reply_to: "x@y.io",
    });
    expect(res.status).toBe(200);
    expect(res.json?.id).toMatch(/^[0-9a-f-]{36}$/);

    const [received, ...rest] = await sim.control.emails();
    expect(rest).toEqual([]);
    expect(received).toMatchObject({
      id: res.json?.id,
      from: email.from,
      to: ["ann@example.com", "Bob <bob@example.com>"],
      replyTo: ["x@y.io"],
      subject: email.subject,
      html: email.html,
      text: email.text,
      tags: email.tags,
      idempotencyKey: null,
    });
    expect(await sim.control.emails({ to: "BOB@example.com" })).toHaveLength(1);
    expect(await sim.control.emails({ to: "carol@example.com" })).toEqual([]);
    const log = await sim.control.requests({ endpoint: "email" });
    expect(log.map((r) => [r.provider, r.path, r.status])).toEqual([["resend", "/emails", 200]]);
    // The API key is never kept.
    expect(JSON.stringify(await sim.control.emailStats())).not.toContain(API_KEY);
  });

  it("sends once per idempotency key and answers a repeat with the first id", async () => {
    const sim = await startSimulator();
    const key = "delivery/7c1e";
    const first = await send(sim, email, { "idempotency-key": key });
    // Same payload with its keys in another order is the same request.
    const { tags, text, ...head } = email;
    const again = await send(sim, { text, tags, ...head }, { "idempotency-key": key });
    expect(first.status).toBe(200);
    expect(again.status).toBe(200);
    expect(again.json?.id).toBe(first.json?.id);
    const stats = await sim.control.emailStats();
    expect(stats.emails.map((e) => e.idempotencyKey)).toEqual([key]);
    expect([stats.sent, stats.replayed]).toEqual([1, 1]);

    const other = await send(sim, { ...email, subject: "Another" }, { "idempotency-key": key });
    expect(other.status).toBe(409);
    expect(other.json).toEqual({
      statusCode: 409,
      name: "invalid_idempotent_request",
      message: "Same idempotency key used with a different request payload.",
    });
    expect((await sim.control.emailStats()).sent).toBe(1);
  });

  it("forgets a key after 24 hours", async () => {
    let now = Date.parse("2026-12-07T10:00:00Z");
    const sim = await startSimulator({ now: () => now });
    const first = await send(sim, email, { "idempotency-key": "k" });
    now += IDEMPOTENCY_WINDOW_MS - 1000;
    expect((await send(sim, email, { "idempotency-key": "k" })).json?.id).toBe(first.json?.id);
    now += 2000;
    const later = await send(sim, email, { "idempotency-key": "k" });
    expect(later.status).toBe(200);
    expect(later.json?.id).not.toBe(first.json?.id);
    expect((await sim.control.emailStats()).sent).toBe(2);
  });

  it("answers 409 concurrent_idempotent_requests while the key's first request is in progress", async () => {
    const sim = await startSimulator();
    await sim.control.addFault({ endpoint: "email", fault: { kind: "latency", ms: 300 } });
    const slow = send(sim, email, { "idempotency-key": "k" });
    // The first request holds its key for the 300 ms of its latency.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const meanwhile = await send(sim, email, { "idempotency-key": "k" });
    expect(meanwhile.status).toBe(409);
    expect(meanwhile.json?.name).toBe("concurrent_idempotent_requests");
    expect((await slow).status).toBe(200);
    expect((await send(sim, email, { "idempotency-key": "k" })).json?.id).toBe(
      (await sim.control.emails())[0]?.id,
    );
    expect((await sim.control.emailStats()).sent).toBe(1);
  });

  it("refuses a bad body with 422 naming the field, and sends nothing", async () => {
    const sim = await startSimulator();
    const cases: Array<[unknown, number, string, string]> = [
      [{ ...email, to: undefined }, 422, "missing_required_field", "`to`"],
      [{ from: email.from, html: "x" }, 422, "missing_required_field", "`to`, `subject`"],
      [{ ...email, from: "not an address" }, 422, "validation_error", "`from`"],
      [{ ...email, to: ["ann@example.com", "nope"] }, 422, "validation_error", "`to.1`"],
      [{ ...email, subject: "Hi\r\nBcc: victim@example.com" }, 422, "validation_error", "`subject`"],
      [{ ...email, html: undefined, text: undefined }, 422, "validation_error", "`html`"],
      [{ ...email, tags: [{ name: "kind", value: "a b" }] }, 422, "validation_error", "`tags.0.value`"],
      [{ ...email, headers: { "X-Entity": "a\nb" } }, 422, "validation_error", "`headers.X-Entity`"],
    ];
    for (const [body, status, name, field] of cases) {
      const res = await send(sim, body);
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(res.json).toMatchObject({ statusCode: status, name });
      expect(String(res.json?.message)).toContain(field);
    }
    expect((await sim.control.emailStats()).sent).toBe(0);
  });

  it("checks the API key and the idempotency key's length", async () => {
    const sim = await startSimulator();
    const missing = await send(sim, email, {}, null);
    expect([missing.status, missing.json?.name]).toEqual([401, "missing_api_key"]);
    const invalid = await send(sim, email, {}, "sk_live_nope");
    expect([invalid.status, invalid.json?.name]).toEqual([403, "invalid_api_key"]);
    const longKey = await send(sim, email, { "idempotency-key": "k".repeat(257) });
    expect([longKey.status, longKey.json?.name]).toEqual([400, "invalid_idempotency_key"]);
    expect((await send(sim, email, { "idempotency-key": "k".repeat(256) })).status).toBe(200);
  });

  it("answers scripted 429s with Retry-After and Resend's ratelimit headers, then 5xx, then sends", async () => {
    const sim = await startSimulator();
    await sim.control.addFault({
      endpoint: "email",
      fault: { kind: "status", status: 429, retryAfter: 3 },
      times: 2,
    });
    await sim.control.addFault({ endpoint: "email", fault: { kind: "status", status: 503 } });
    for (let i = 0; i < 2; i += 1) {
      const limited = await send(sim, email, { "idempotency-key": "k" });
      expect(limited.status).toBe(429);
      expect(limited.json).toMatchObject({ statusCode: 429, name: "rate_limit_exceeded" });
      expect(limited.headers.get("retry-after")).toBe("3");
      expect(limited.headers.get("ratelimit-remaining")).toBe("0");
      expect(limited.headers.get("ratelimit-reset")).toBe("3");
      expect(limited.headers.get("ratelimit-limit")).toBe("2");
    }
    const down = await send(sim, email, { "idempotency-key": "k" });
    expect(down.status).toBe(503);
    expect(down.json).toMatchObject({ statusCode: 503, name: "application_error" });
    expect((await send(sim, email, { "idempotency-key": "k" })).status).toBe(200);
    const log = await sim.control.requests({ endpoint: "email" });
    expect(log.map((r) => [r.status, r.fault])).toEqual([
      [429, "status"],
      [429, "status"],
      [503, "status"],
      [200, null],
    ]);
    expect((await sim.control.emailStats()).sent).toBe(1);
  });

  it("applies a ratio fault to that share of requests, decided by the injected draws", async () => {
    const draws = [0.1, 0.9, 0.2, 0.7];
    const sim = await startSimulator({ random: () => draws.shift() ?? 0.99 });
    await sim.control.addFault({
      endpoint: "email",
      ratio: 0.5,
      times: null,
      fault: { kind: "status", status: 500 },
    });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i += 1) statuses.push((await send(sim, email)).status);
    expect(statuses).toEqual([500, 200, 500, 200]);
  });

  it("enforces a team rate limit when one is set", async () => {
    const sim = await startSimulator();
    await sim.control.setEmailRateLimit({ requestsPerSecond: 2 });
    const statuses: number[] = [];
    let limited: Sent | undefined;
    for (let i = 0; i < 3; i += 1) {
      const res = await send(sim, email);
      statuses.push(res.status);
      if (res.status === 429) limited = res;
    }
    expect(statuses).toEqual([200, 200, 429]);
    expect(limited?.json?.name).toBe("rate_limit_exceeded");
    expect(Number(limited?.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    await sim.control.setEmailRateLimit({ requestsPerSecond: null });
    expect((await send(sim, email)).status).toBe(200);
  });

  it("sends, then resets the connection on drop_after_send: a retry with the key gets the first id", async () => {
    const sim = await startSimulator();
    await sim.control.addFault({ endpoint: "email", fault: { kind: "drop_after_send" } });
    await expect(send(sim, email, { "idempotency-key": "k" })).rejects.toThrow();
    const [sent] = await sim.control.emails();
    const retry = await send(sim, email, { "idempotency-key": "k" });
    expect(retry.json?.id).toBe(sent?.id);
    expect((await sim.control.emailStats()).sent).toBe(1);
  });

  it("refuses email faults that cannot apply, and token faults of the email kind", async () => {
    const sim = await startSimulator();
    await expect(
      sim.control.addFault({ endpoint: "email", fault: { kind: "no_refresh_token" } }),
    ).rejects.toMatchObject({ status: 400, message: expect.stringContaining("fault.kind") });
    await expect(
      sim.control.addFault({ endpoint: "email", connectionKey: "c1", fault: { kind: "timeout" } }),
    ).rejects.toMatchObject({ status: 400, message: expect.stringContaining("connectionKey") });
    await expect(sim.control.addFault({ fault: { kind: "drop_after_send" } })).rejects.toMatchObject({
      status: 400,
    });
  });

  it("forgets emails and keys on clear and reset", async () => {
    const sim = await startSimulator();
    const first = await send(sim, email, { "idempotency-key": "k" });
    await sim.control.clearEmails();
    expect(await sim.control.emails()).toEqual([]);
    const second = await send(sim, email, { "idempotency-key": "k" });
    expect(second.json?.id).not.toBe(first.json?.id);
    await sim.control.reset();
    expect((await sim.control.emailStats()).sent).toBe(0);
  });
});
