// The notifier's email worker as a service (runService) on real NATS and Postgres, sending to the
// provider simulator's Resend endpoint over HTTP: a disconnection sends exactly one email with its
// reconnect link and its audit; 429 (Retry-After), 5xx and a lost answer are retried with the same
// idempotency key and still send one email, also when the user and the subject were renamed between
// the attempts; a 4xx fails with its reason and is not retried; an event delivered three times
// sends one email; user text is escaped in the HTML.
import { randomUUID } from "node:crypto";
import { connect, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { type AnyEvent, createEvent, type EventOf, subjectOf } from "@syncwell/contracts";
import { createSimulator, type Simulator, SimulatorControl } from "@syncwell/provider-simulator";
import { type RunningServiceOf, runService } from "@syncwell/service";
import {
  createTestDatabase,
  createTestNats,
  type TestDatabase,
  type TestNats,
  testServiceOptions,
  waitFor,
} from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { notifierService } from "./service.ts";

const patience = { timeoutMs: 20_000 };
const API_KEY = "re_TestOnly_9d1c4b7a2e";
const FROM = "Syncwell <alerts@syncwell.test>";
const RECONNECT = "https://app.syncwell.test/connections/{connectionId}/reconnect";

type Delivered = EventOf<"notification.delivered">;

type EmailMessageRow = {
  id: string;
  notificationId: string;
  status: string;
  attempts: number;
  provider: string | null;
  providerMessageId: string | null;
  sentAt: Date | null;
  lastError: string | null;
  nextAttemptAt: Date | null;
};

type AttemptRow = {
  attempt: number;
  provider: string;
  outcome: string | null;
  httpStatus: number | null;
  providerMessageId: string | null;
  error: string | null;
  startedAt: Date;
  finishedAt: Date | null;
};

describe("the notifier's email delivery", () => {
  let db: TestDatabase;
  let nats: TestNats;
  let nc: NatsConnection;
  let sim: Simulator;
  let control: SimulatorControl;
  let subscription: Subscription;
  let service: RunningServiceOf<typeof notifierService>;
  const delivered: Delivered[] = [];
  let clock = Date.now() - 60 * 60_000;

  const at = () => {
    clock += 60_000;
    return new Date(clock).toISOString();
  };

  async function user(name: string | null = null): Promise<{ userId: string; address: string }> {
    const userId = randomUUID();
    const address = `${userId}@example.test`;
    await db.pool.query(`INSERT INTO users (id, email, name) VALUES ($1, $2, $3)`, [userId, address, name]);
    return { userId, address };
  }

  /** A failed refresh the token service gave up on (a permanent one): "disconnected" at once. */
  function lostGrant(userId: string, connectionId = randomUUID(), failures = 1): EventOf<"token.failed"> {
    return createEvent(
      "token.failed",
      {
        userId,
        connectionId,
        provider: "google",
        classification: "permanent",
        errorCode: "invalid_grant",
        consecutiveFailures: failures,
        consecutiveTransientFailures: 0,
        previousStatus: "connected",
        status: "needs_reauth",
        retryAt: null,
      },
      { source: "test", occurredAt: at() },
    );
  }

  /** A contact of the user at bob@example.test, named `name`. */
  async function contact(userId: string, name: string): Promise<string> {
    const id = randomUUID();
    await db.pool.query(`INSERT INTO contacts (id, user_id, email, name) VALUES ($1, $2, $3, $4)`, [
      id,
      userId,
      "bob@example.test",
      name,
    ]);
    return id;
  }

  /** The contact gone quiet: its relationship turned ghost, for `reason`. */
  function wentGhost(userId: string, contactId: string, reason: string): EventOf<"health.changed"> {
    return createEvent(
      "health.changed",
      {
        subjectKind: "contact",
        subjectId: contactId,
        userId,
        previousStatus: "at_risk",
        status: "ghost",
        score: 12,
        previousScore: 40,
        components: { recency: 0.1 },
        reason,
      },
      { source: "test", occurredAt: at() },
    );
  }

  async function deliver(event: AnyEvent, copy = 0): Promise<void> {
    const subject = service.bus.naming.subject(subjectOf(event));
    await service.bus.js.publish(subject, JSON.stringify(event), { msgID: `${event.id}#${copy}` });
  }

  async function emailMessage(userId: string): Promise<EmailMessageRow | undefined> {
    const { rows } = await db.pool.query<EmailMessageRow>(
      `SELECT m.id, m.notification_id AS "notificationId", m.status, m.attempts, m.provider,
              m.provider_message_id AS "providerMessageId", m.sent_at AS "sentAt", m.last_error AS "lastError",
              m.next_attempt_at AS "nextAttemptAt"
       FROM notification_messages m JOIN notifications n ON n.id = m.notification_id
       WHERE n.user_id = $1 AND m.channel = 'email'`,
      [userId],
    );
    expect(rows.length).toBeLessThanOrEqual(1);
    return rows[0];
  }

  /** Waits until the user's email message is final (sent or failed). */
  async function settled(userId: string): Promise<EmailMessageRow> {
    return waitFor(
      async () => {
        const m = await emailMessage(userId);
        return m !== undefined && ["sent", "failed"].includes(m.status) ? m : undefined;
      },
      `the email of ${userId} to be sent or failed`,
      patience,
    );
  }

  async function attempts(messageId: string): Promise<AttemptRow[]> {
    const { rows } = await db.pool.query<AttemptRow>(
      `SELECT attempt, provider, outcome, http_status AS "httpStatus", provider_message_id AS "providerMessageId",
              error, started_at AS "startedAt", finished_at AS "finishedAt"
       FROM notification_delivery_attempts WHERE message_id = $1 ORDER BY attempt`,
      [messageId],
    );
    return rows;
  }

  async function deliveredOf(notificationId: string): Promise<Delivered> {
    return waitFor(
      () => delivered.find((e) => e.data.notificationId === notificationId),
      `notification.delivered for ${notificationId}`,
      patience,
    );
  }

  beforeAll(async () => {
    db = await createTestDatabase({ poolMax: 10 });
    nats = createTestNats("notifier-email");
    sim = await createSimulator();
    control = new SimulatorControl(sim.url);
    nc = await connect({ servers: nats.url });
    subscription = nc.subscribe(`${nats.prefix}.notification.delivered`, {
      callback: (_err, msg) => {
        delivered.push(msg.json<Delivered>());
      },
    });
    await nc.flush();
    service = await runService(
      notifierService,
      await testServiceOptions(db, nats, {
        NOTIFY_RECONNECT_URL: RECONNECT,
        NOTIFY_HEALTH_EMAIL: "true",
        EMAIL_FROM: FROM,
        RESEND_API_KEY: API_KEY,
        RESEND_BASE_URL: control.emailApiUrl(),
        EMAIL_SEND_TIMEOUT: "3s",
        EMAIL_RATE_LIMIT_PER_SEC: "20",
        EMAIL_BACKOFF_BASE: "100ms",
        EMAIL_BACKOFF_MAX: "400ms",
        EMAIL_MAX_ATTEMPTS: "5",
        EMAIL_POLL_INTERVAL: "250ms",
      }),
    );
  });

  afterAll(async () => {
    await service?.stop("test done");
    subscription?.unsubscribe();
    await nc?.close();
    await sim?.close();
    await nats?.cleanup();
    await db?.drop();
  });

  it("sends one email for a disconnection, with the reconnect link, its audit and notification.delivered", async () => {
    const { userId, address } = await user("Ann");
    const connectionId = randomUUID();
    for (const failures of [1, 2]) {
      const event = lostGrant(userId, connectionId, failures);
      await deliver({ ...event, data: { ...event.data, errorCode: "invalid_request", status: "warning" } });
    }
    await deliver(lostGrant(userId, connectionId, 3));
    const message = await settled(userId);
    const emails = await control.emails({ to: address });
    expect(emails).toHaveLength(1);
    const [email] = emails;
    const link = `https://app.syncwell.test/connections/${connectionId}/reconnect`;
    expect(email).toMatchObject({
      idempotencyKey: message.id,
      from: FROM,
      to: [address],
      subject: "Google is disconnected from Syncwell",
      tags: [
        { name: "kind", value: "connection_disconnected" },
        { name: "notification", value: message.notificationId },
      ],
    });
    expect(email?.html).toContain(`href="${link}"`);
    expect(email?.html).toContain("Hello Ann,");
    expect(email?.text).toContain(`Reconnect Google: ${link}`);

    expect(message).toMatchObject({
      status: "sent",
      attempts: 1,
      provider: "resend",
      providerMessageId: email?.id,
      lastError: null,
      nextAttemptAt: null,
    });
    expect(message.sentAt).toBeInstanceOf(Date);
    expect(await attempts(message.id)).toEqual([
      expect.objectContaining({
        attempt: 1,
        provider: "resend",
        outcome: "sent",
        httpStatus: 200,
        providerMessageId: email?.id,
        error: null,
        finishedAt: expect.any(Date),
      }),
    ]);
    expect((await deliveredOf(message.notificationId)).data).toEqual({
      notificationId: message.notificationId,
      userId,
      kind: "connection_disconnected",
      channel: "email",
      dedupKey: `connection_disconnected:${connectionId}:1`,
      status: "sent",
      providerMessageId: email?.id,
      attempts: 1,
    });
  });

  it("retries a 429 after its Retry-After and then sends once", async () => {
    const { userId, address } = await user();
    await control.addFault({ endpoint: "email", fault: { kind: "status", status: 429, retryAfter: 1 } });
    await deliver(lostGrant(userId));
    const message = await settled(userId);
    expect(message).toMatchObject({ status: "sent", attempts: 2 });
    const [limited, sent] = await attempts(message.id);
    expect(limited).toMatchObject({ outcome: "retryable", httpStatus: 429, providerMessageId: null });
    expect(limited?.error).toContain("429 rate_limit_exceeded");
    expect(sent).toMatchObject({
      outcome: "sent",
      httpStatus: 200,
      providerMessageId: message.providerMessageId,
    });
    // Retry-After: 1 second, far above the backoff of 100 ms.
    const waited = (sent?.startedAt.getTime() ?? 0) - (limited?.finishedAt?.getTime() ?? 0);
    expect(waited).toBeGreaterThanOrEqual(900);
    expect(await control.emails({ to: address })).toHaveLength(1);
    expect((await deliveredOf(message.notificationId)).data).toMatchObject({ status: "sent", attempts: 2 });
  });

  it("retries a 5xx and then sends once", async () => {
    const { userId, address } = await user();
    await control.addFault({ endpoint: "email", fault: { kind: "status", status: 503 } });
    await deliver(lostGrant(userId));
    const message = await settled(userId);
    expect(message).toMatchObject({ status: "sent", attempts: 2 });
    expect((await attempts(message.id)).map((a) => [a.outcome, a.httpStatus])).toEqual([
      ["retryable", 503],
      ["sent", 200],
    ]);
    expect(await control.emails({ to: address })).toHaveLength(1);
  });

  it("fails a message the vendor refuses (4xx) with its reason, without retrying", async () => {
    const { userId, address } = await user();
    await control.addFault({
      endpoint: "email",
      fault: { kind: "status", status: 403, errorDescription: "The syncwell.test domain is not verified." },
    });
    await deliver(lostGrant(userId));
    const message = await settled(userId);
    expect(message).toMatchObject({ status: "failed", attempts: 1, providerMessageId: null, sentAt: null });
    expect(message.lastError).toMatch(/^403 .*The syncwell\.test domain is not verified\./);
    expect(await attempts(message.id)).toEqual([
      expect.objectContaining({ outcome: "rejected", httpStatus: 403, error: message.lastError }),
    ]);
    expect((await deliveredOf(message.notificationId)).data).toMatchObject({
      status: "failed",
      attempts: 1,
      error: message.lastError,
    });
    // Several backoffs and polls later, still one attempt and no email.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await attempts(message.id)).toHaveLength(1);
    expect(await control.emails({ to: address })).toHaveLength(0);
  });

  it("sends one email when the same token.failed is delivered three times", async () => {
    const { userId, address } = await user();
    const event = lostGrant(userId);
    await Promise.all([0, 1, 2].map((copy) => deliver(event, copy)));
    const message = await settled(userId);
    await waitFor(
      async () => {
        const { rows } = await db.pool.query(
          `SELECT 1 FROM processed_events WHERE consumer = 'notifier-token-failed' AND event_id = $1`,
          [event.id],
        );
        return rows.length === 1;
      },
      "the event to be applied",
      patience,
    );
    await service.parts.email?.flush();
    const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM notifications WHERE user_id = $1`, [
      userId,
    ]);
    expect(rows[0]?.n).toBe(1);
    expect(await control.emails({ to: address })).toHaveLength(1);
    expect(await attempts(message.id)).toHaveLength(1);
  });

  it("sends one email when the answer is lost after the send: the retry with the same key gets the first id", async () => {
    const { userId, address } = await user();
    const before = await control.emailStats();
    await control.addFault({ endpoint: "email", fault: { kind: "drop_after_send" } });
    await deliver(lostGrant(userId));
    const message = await settled(userId);
    const emails = await control.emails({ to: address });
    expect(emails).toHaveLength(1);
    expect(message).toMatchObject({ status: "sent", attempts: 2, providerMessageId: emails[0]?.id });
    expect((await attempts(message.id)).map((a) => [a.outcome, a.httpStatus, a.providerMessageId])).toEqual([
      ["retryable", null, null],
      ["sent", 200, emails[0]?.id],
    ]);
    const after = await control.emailStats();
    expect(after.sent - before.sent).toBe(1);
    expect(after.replayed - before.replayed).toBe(1);
  });

  it("retries a lost answer with the first attempt's email, though the user and the contact were renamed", async () => {
    const { userId, address } = await user("Ann");
    const contactId = await contact(userId, "Bob");
    // The first answer is lost after the send; the second is a 429 whose Retry-After holds the third
    // attempt back for 2 s, while the names change.
    await control.addFault({ endpoint: "email", fault: { kind: "drop_after_send" }, times: 1 });
    await control.addFault({
      endpoint: "email",
      fault: { kind: "status", status: 429, retryAfter: 2 },
      times: 1,
    });
    await deliver(wentGhost(userId, contactId, "No reply in 40 days"));
    await waitFor(
      async () => {
        const m = await emailMessage(userId);
        const tried = m === undefined ? [] : await attempts(m.id);
        return tried.length === 2 && tried[1]?.finishedAt !== null;
      },
      "the lost answer and the 429",
      patience,
    );
    await db.pool.query(`UPDATE users SET name = 'Annabel' WHERE id = $1`, [userId]);
    await db.pool.query(`UPDATE contacts SET name = 'Robert' WHERE id = $1`, [contactId]);

    const message = await settled(userId);
    const emails = await control.emails({ to: address });
    expect(emails).toHaveLength(1);
    const [email] = emails;
    expect(email?.subject).toBe("Bob has gone quiet");
    expect(email?.html).toContain("Hello Ann,");
    expect(message).toMatchObject({
      status: "sent",
      attempts: 3,
      providerMessageId: email?.id,
      lastError: null,
    });
    expect((await attempts(message.id)).map((a) => [a.outcome, a.httpStatus, a.providerMessageId])).toEqual([
      ["retryable", null, null],
      ["retryable", 429, null],
      ["sent", 200, email?.id],
    ]);
    const { rows } = await db.pool.query(`SELECT email FROM notification_messages WHERE id = $1`, [
      message.id,
    ]);
    expect(rows[0]?.email).toEqual({
      from: email?.from,
      to: address,
      subject: email?.subject,
      html: email?.html,
      text: email?.text,
      tags: Object.fromEntries(email?.tags.map((t) => [t.name, t.value]) ?? []),
    });
    expect(email?.tags).toEqual([
      { name: "kind", value: "health_ghost" },
      { name: "notification", value: message.notificationId },
    ]);
    expect((await deliveredOf(message.notificationId)).data).toMatchObject({ status: "sent", attempts: 3 });
  });

  it("escapes user text in the HTML: the user's name and a contact's name", async () => {
    const hostile = `<script>alert("x")</script> & <img src=x onerror=alert(1)>`;
    const { userId, address } = await user(hostile);
    const contactId = await contact(userId, `Bob "<b>bold</b>" O'Neil`);
    await deliver(wentGhost(userId, contactId, "No reply in 40 days <a href='https://evil.test'>click</a>"));
    const message = await settled(userId);
    expect(message.status).toBe("sent");
    const [email] = await control.emails({ to: address });
    const html = email?.html ?? "";
    expect(html).not.toMatch(/<script|<img|<b>|<a href='https:\/\/evil/);
    expect(html).toContain("Hello &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;img src=x");
    expect(html).toContain("Bob &quot;&lt;b&gt;bold&lt;/b&gt;&quot; O&#39;Neil");
    expect(html).toContain("&lt;a href=&#39;https://evil.test&#39;&gt;click&lt;/a&gt;");
    expect(email?.subject).toBe(`Bob "<b>bold</b>" O'Neil has gone quiet`);
  });
});
