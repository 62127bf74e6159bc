import { createServer } from "node:net";
import { createSimulator, type Simulator, SimulatorControl } from "@syncwell/provider-simulator";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { classifyEmailFailure, type EmailMessage } from "./email-provider.ts";
import { createEmailProvider, emailChannelConfigFields } from "./index.ts";
import { ResendEmailProvider } from "./resend.provider.ts";

const API_KEY = "re_SecretKey_4f9c2a7e1b";

const message: EmailMessage = {
  idempotencyKey: "delivery-0b6f3c7e",
  from: "Syncwell <alerts@syncwell.test>",
  to: "ann@example.com",
  subject: "Gmail is disconnected",
  html: '<p>Reconnect <a href="https://app.syncwell.test/reconnect">here</a></p>',
  text: "Reconnect: https://app.syncwell.test/reconnect",
  tags: { kind: "connection_disconnected", notification: "n/42" },
};

const simulators: Simulator[] = [];
afterEach(async () => {
  await Promise.all(simulators.splice(0).map((sim) => sim.close()));
});

async function simulator(options: Parameters<typeof createSimulator>[0] = {}) {
  const sim = await createSimulator(options);
  simulators.push(sim);
  const control = new SimulatorControl(sim.url);
  // A trailing slash, as an operator may well write RESEND_BASE_URL, changes nothing.
  const provider = new ResendEmailProvider({
    apiKey: API_KEY,
    baseUrl: `${control.emailApiUrl()}/`,
    timeoutMs: 2_000,
  });
  return { sim, control, provider };
}

describe("ResendEmailProvider against the simulator", () => {
  it("sends one email with the message's parts, tags and idempotency key", async () => {
    const { control, provider } = await simulator();
    const result = await provider.send(message);
    expect(result).toEqual({ outcome: "sent", providerMessageId: expect.any(String) });
    const emails = await control.emails();
    expect(emails).toHaveLength(1);
    expect(emails[0]).toMatchObject({
      id: result.outcome === "sent" ? result.providerMessageId : "",
      idempotencyKey: message.idempotencyKey,
      from: message.from,
      to: ["ann@example.com"],
      subject: message.subject,
      html: message.html,
      text: message.text,
      // Resend takes only letters, digits, `_` and `-` in tags.
      tags: [
        { name: "kind", value: "connection_disconnected" },
        { name: "notification", value: "n_42" },
      ],
    });
  });

  it("sends once for the same idempotency key, answering the first message id again", async () => {
    const { control, provider } = await simulator();
    const first = await provider.send(message);
    const second = await provider.send(message);
    expect(second).toEqual(first);
    expect((await control.emailStats()).sent).toBe(1);
    expect((await control.emailStats()).replayed).toBe(1);
  });

  it("classifies 429 as retryable with Retry-After, then sends on the next try", async () => {
    const { control, provider } = await simulator();
    await control.addFault({ endpoint: "email", fault: { kind: "status", status: 429, retryAfter: 3 } });
    const limited = await provider.send(message);
    expect(limited).toEqual({
      outcome: "retryable",
      httpStatus: 429,
      retryAfterMs: 3_000,
      reason: expect.stringContaining("429 rate_limit_exceeded"),
    });
    expect((await control.emailStats()).sent).toBe(0);
    expect(await provider.send(message)).toMatchObject({ outcome: "sent" });
    expect((await control.emailStats()).sent).toBe(1);
  });

  it("reads a Retry-After date, and 5xx without one, as retryable", async () => {
    const now = Date.parse("2026-12-07T12:00:00Z");
    const { control } = await simulator();
    const provider = new ResendEmailProvider({
      apiKey: API_KEY,
      baseUrl: control.emailApiUrl(),
      timeoutMs: 2_000,
      now: () => now,
    });
    await control.addFault({
      endpoint: "email",
      fault: { kind: "status", status: 503, retryAfter: new Date(now + 20_000).toUTCString() },
    });
    await control.addFault({ endpoint: "email", fault: { kind: "status", status: 500 } });
    expect(await provider.send(message)).toMatchObject({
      outcome: "retryable",
      httpStatus: 503,
      retryAfterMs: 20_000,
    });
    const plain = await provider.send(message);
    expect(plain).toMatchObject({ outcome: "retryable", httpStatus: 500 });
    expect(plain).not.toHaveProperty("retryAfterMs");
  });

  it("rejects a refused message with Resend's reason", async () => {
    const { control, provider } = await simulator();
    const result = await provider.send({ ...message, idempotencyKey: "bad-from", from: "not an address" });
    expect(result).toMatchObject({ outcome: "rejected", httpStatus: 422 });
    expect(result.outcome === "rejected" && result.reason).toMatch(
      /^422 validation_error: Invalid `from` field/,
    );
    expect((await control.emailStats()).sent).toBe(0);

    // A key already used for another message: sending again cannot help.
    expect(await provider.send(message)).toMatchObject({ outcome: "sent" });
    const reused = await provider.send({ ...message, subject: "Another subject" });
    expect(reused).toMatchObject({ outcome: "rejected", httpStatus: 409 });
    expect(reused.outcome === "rejected" && reused.reason).toContain("invalid_idempotent_request");
  });

  it("never lets the API key into a reason, even when the answer quotes it", async () => {
    const { control, provider } = await simulator();
    await control.addFault({
      endpoint: "email",
      fault: {
        kind: "status",
        status: 403,
        errorDescription: `API key ${API_KEY} is invalid (Bearer ${API_KEY})`,
      },
    });
    await control.addFault({
      endpoint: "email",
      fault: {
        kind: "status",
        status: 500,
        errorDescription: `upstream said: authorization=Bearer ${API_KEY}`,
      },
    });
    const rejected = await provider.send(message);
    const retryable = await provider.send(message);
    expect(rejected).toMatchObject({ outcome: "rejected", httpStatus: 403 });
    expect(retryable).toMatchObject({ outcome: "retryable", httpStatus: 500 });
    for (const result of [rejected, retryable]) {
      expect(JSON.stringify(result)).not.toContain(API_KEY);
      expect(JSON.stringify(result)).not.toContain("SecretKey");
    }
    expect(rejected.outcome === "rejected" && rejected.reason).toContain("[redacted]");
  });

  it("classifies no answer (a time limit, a closed port) as retryable without a status", async () => {
    const { control } = await simulator();
    await control.addFault({ endpoint: "email", fault: { kind: "timeout" } });
    const slow = new ResendEmailProvider({ apiKey: API_KEY, baseUrl: control.emailApiUrl(), timeoutMs: 200 });
    const timedOut = await slow.send(message);
    expect(timedOut).toMatchObject({ outcome: "retryable", httpStatus: null });
    expect(timedOut.outcome === "retryable" && timedOut.reason).toContain("no answer");

    const closed = new ResendEmailProvider({
      apiKey: API_KEY,
      baseUrl: `http://127.0.0.1:${await freePort()}`,
      timeoutMs: 2_000,
    });
    const refused = await closed.send(message);
    expect(refused).toMatchObject({ outcome: "retryable", httpStatus: null });
    expect(JSON.stringify([timedOut, refused])).not.toContain(API_KEY);
  });

  it("sends once when the answer is lost after the send and the same delivery is retried", async () => {
    const { control, provider } = await simulator();
    await control.addFault({ endpoint: "email", fault: { kind: "drop_after_send" } });
    expect(await provider.send(message)).toMatchObject({ outcome: "retryable", httpStatus: null });
    const retried = await provider.send(message);
    const emails = await control.emails();
    expect(emails).toHaveLength(1);
    expect(retried).toEqual({ outcome: "sent", providerMessageId: emails[0]?.id });
  });
});

describe("email provider configuration", () => {
  const schema = async (env: Record<string, string>) => z.object(emailChannelConfigFields).parse(env);

  it("turns email off without a sender or a key, and builds the Resend provider with both", async () => {
    expect(createEmailProvider(await schema({}))).toBeNull();
    expect(createEmailProvider(await schema({ EMAIL_FROM: "Syncwell <a@b.io>" }))).toBeNull();
    const config = await schema({
      EMAIL_FROM: "Syncwell <a@b.io>",
      RESEND_API_KEY: API_KEY,
      RESEND_BASE_URL: "http://127.0.0.1:4010",
      EMAIL_SEND_TIMEOUT: "5s",
    });
    expect(config.EMAIL_SEND_TIMEOUT).toBe(5_000);
    expect(createEmailProvider(config)?.name).toBe("resend");
  });

  it("refuses a key that is not Resend's and a multi-line sender", async () => {
    await expect(schema({ RESEND_API_KEY: "sk_live_x" })).rejects.toThrow(/RESEND_API_KEY/);
    await expect(schema({ EMAIL_FROM: "a@b.io\r\nBcc: x@y.io" })).rejects.toThrow(/EMAIL_FROM/);
  });
});

describe("classifyEmailFailure", () => {
  it("retries 429, 5xx, no answer and a key still in flight; rejects the rest", () => {
    const classify = (httpStatus: number | null, code: string | null = null) =>
      classifyEmailFailure({ httpStatus, code, message: "m" }, []).outcome;
    expect([classify(429), classify(500), classify(503), classify(null)]).toEqual([
      "retryable",
      "retryable",
      "retryable",
      "retryable",
    ]);
    expect(classify(409, "concurrent_idempotent_requests")).toBe("retryable");
    expect([
      classify(400),
      classify(401),
      classify(403),
      classify(409, "invalid_idempotent_request"),
      classify(422),
    ]).toEqual(["rejected", "rejected", "rejected", "rejected", "rejected"]);
  });
});

/** A port nothing listens on: bound, read, released. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
