// The email worker on its own, against real Postgres and the provider simulator over HTTP: two
// replicas share the work and the team's rate limit and send each email once; a message left
// `sending` by a worker that died after the send is sent again with the same key and still reaches
// the user once; one whose worker died after storing its email and before the send sends that
// email, to that address, whatever changed since; a claim taken over fences the old worker out; a
// stop hands back what it had not started.
import { randomUUID } from "node:crypto";
import { createSimulator, type Simulator, SimulatorControl } from "@syncwell/provider-simulator";
import { createRateLimiter } from "@syncwell/rate-limit";
import { createLogger } from "@syncwell/telemetry";
import { createTestDatabase, type TestDatabase, waitFor } from "@syncwell/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ResendEmailProvider } from "../adapters/email/resend.provider.ts";
import { composeEmail, type OutgoingEmail } from "../domain/email-delivery.ts";
import { claimDueEmails, startAttempt } from "../repositories/email-messages.repository.ts";
import { EmailDelivery, type EmailDeliverySettings } from "./email-delivery.ts";

const API_KEY = "re_EngineTest_0c7f3a";

let db: TestDatabase;
let sim: Simulator;
let control: SimulatorControl;
const workers: EmailDelivery[] = [];

beforeAll(async () => {
  db = await createTestDatabase({ poolMax: 12 });
  sim = await createSimulator();
  control = new SimulatorControl(sim.url);
});

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
  // Each test starts from no due message and a bucket of its own settings.
  await db.pool.query(`DELETE FROM users`);
  await db.pool.query(`DELETE FROM rate_limit_buckets`);
});

afterAll(async () => {
  await sim?.close();
  await db?.drop();
});

const settings: EmailDeliverySettings = {
  from: "Syncwell <alerts@syncwell.test>",
  replyTo: undefined,
  ratePerSec: 50,
  batchSize: 20,
  concurrency: 4,
  leaseMs: 30_000,
  pollIntervalMs: 100,
  retry: { maxAttempts: 5, backoff: { initialDelayMs: 100, maxDelayMs: 200 }, maxAgeMs: 3_600_000 },
};

function worker(overrides: Partial<EmailDeliverySettings> = {}, replicaId = randomUUID()): EmailDelivery {
  const w = new EmailDelivery({
    pool: db.pool,
    logger: createLogger({ service: "test", level: "silent" }),
    provider: new ResendEmailProvider({ apiKey: API_KEY, baseUrl: control.emailApiUrl(), timeoutMs: 3_000 }),
    limiter: createRateLimiter(db.pool),
    settings: { ...settings, ...overrides },
    source: "notifier",
    replicaId,
  });
  workers.push(w);
  return w;
}

/** A user with a pending "disconnected" email; resolves to the message's id and the address. */
async function pendingEmail(): Promise<{ messageId: string; address: string }> {
  const userId = randomUUID();
  const notificationId = randomUUID();
  const messageId = randomUUID();
  const connectionId = randomUUID();
  const address = `${userId}@example.test`;
  await db.pool.query(`INSERT INTO users (id, email) VALUES ($1, $2)`, [userId, address]);
  await db.pool.query(
    `INSERT INTO notifications (id, user_id, kind, priority, subject_type, subject_id, subject_key, episode,
                                dedup_key, title, body, link, data)
     VALUES ($1, $2, 'connection_disconnected', 'critical', 'connection', $3, $4, 1, $5, 'Google is disconnected',
             'Reconnect it.', $6, jsonb_build_object('provider', 'google'))`,
    [
      notificationId,
      userId,
      connectionId,
      `connection:${connectionId}`,
      `connection_disconnected:${connectionId}:1`,
      `https://app.syncwell.test/reconnect/${connectionId}`,
    ],
  );
  await db.pool.query(
    `INSERT INTO notification_messages (id, notification_id, channel, status, to_address, next_attempt_at)
     VALUES ($1, $2, 'email', 'pending', $3, now())`,
    [messageId, notificationId, address],
  );
  return { messageId, address };
}

async function statuses(): Promise<Record<string, number>> {
  const { rows } = await db.pool.query<{ status: string; n: number }>(
    `SELECT status, count(*)::int AS n FROM notification_messages GROUP BY status`,
  );
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

describe("EmailDelivery", () => {
  it("shares the work and the rate limit between two replicas and sends each email once", async () => {
    const messages = await Promise.all(Array.from({ length: 12 }, () => pendingEmail()));
    const before = (await control.emailStats()).sent;
    const started = Date.now();
    // 4 per second and no burst: the 11 after the first need 2.75 s, whichever replica sends them.
    for (const w of [worker({ ratePerSec: 4 }), worker({ ratePerSec: 4 })]) w.start();
    await waitFor(async () => (await statuses()).sent === 12, "every email to be sent", {
      timeoutMs: 20_000,
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_600);
    expect((await control.emailStats()).sent - before).toBe(12);
    for (const { messageId, address } of messages) {
      const emails = await control.emails({ to: address });
      expect(emails.map((e) => e.idempotencyKey)).toEqual([messageId]);
    }
  });

  it("sends again with the same key a message whose worker died after the send: one email", async () => {
    const { messageId, address } = await pendingEmail();
    const first = worker();
    await first.flush();
    const [sent] = await control.emails({ to: address });
    // As if the worker had died between the send and its record: sending, its lease run out.
    await db.pool.query(
      `UPDATE notification_messages SET status = 'sending', claimed_by = 'dead/1', sent_at = NULL,
         provider_message_id = NULL, next_attempt_at = now() - interval '1 second' WHERE id = $1`,
      [messageId],
    );
    const replayedBefore = (await control.emailStats()).replayed;
    await worker().flush();
    const { rows } = await db.pool.query(
      `SELECT status, attempts, provider_message_id AS "providerMessageId" FROM notification_messages WHERE id = $1`,
      [messageId],
    );
    expect(rows[0]).toEqual({ status: "sent", attempts: 2, providerMessageId: sent?.id });
    expect(await control.emails({ to: address })).toHaveLength(1);
    expect((await control.emailStats()).replayed - replayedBefore).toBe(1);
  });

  it("sends the email a dead worker stored before its send, though the user, address and sender changed", async () => {
    const { messageId, address } = await pendingEmail();
    // A worker that started its attempt (storing the email) and died before the send.
    const [claimed] = await claimDueEmails(db.pool, { limit: 1, leaseMs: 1, claimToken: "dead/1" });
    if (claimed === undefined) throw new Error("the message was not claimed");
    const composed = composeEmail(claimed, { from: settings.from, replyTo: undefined });
    if (!composed.ok) throw new Error(composed.problem);
    const started = await startAttempt(db.pool, {
      messageId,
      claimToken: "dead/1",
      leaseUntil: claimed.leaseUntil,
      leaseMs: 1,
      provider: "resend",
      email: composed.email,
    });
    expect(started?.email).toEqual(composed.email);
    const moved = `moved-${randomUUID()}@example.test`;
    await db.pool.query(
      `UPDATE users SET name = 'Renamed', email = $2
       WHERE id = (SELECT n.user_id FROM notifications n JOIN notification_messages m ON m.notification_id = n.id
                   WHERE m.id = $1)`,
      [messageId, moved],
    );
    await db.pool.query(`UPDATE notification_messages SET to_address = $2 WHERE id = $1`, [messageId, moved]);
    await new Promise((resolve) => setTimeout(resolve, 20));

    await worker({ from: "Someone Else <else@syncwell.test>" }).flush();
    expect(await control.emails({ to: moved })).toEqual([]);
    const emails = await control.emails({ to: address });
    expect(emails).toHaveLength(1);
    expect(emails[0]).toMatchObject({
      idempotencyKey: messageId,
      from: settings.from,
      to: [address],
      subject: composed.email.subject,
      html: composed.email.html,
      text: composed.email.text,
    });
    expect(emails[0]?.html).not.toContain("Renamed");
    const { rows } = await db.pool.query(
      `SELECT status, attempts, provider_message_id AS "providerMessageId", email FROM notification_messages
       WHERE id = $1`,
      [messageId],
    );
    expect(rows[0]).toEqual({
      status: "sent",
      attempts: 2,
      providerMessageId: emails[0]?.id,
      email: composed.email,
    });
  });

  it("fences out a worker whose claim was taken over", async () => {
    const { messageId } = await pendingEmail();
    const [old] = await claimDueEmails(db.pool, { limit: 1, leaseMs: 1, claimToken: "old/1" });
    expect(old?.id).toBe(messageId);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const [taken] = await claimDueEmails(db.pool, { limit: 1, leaseMs: 30_000, claimToken: "new/1" });
    expect(taken?.id).toBe(messageId);
    const email: OutgoingEmail = {
      from: settings.from,
      to: "someone@example.test",
      subject: "s",
      html: "<p>h</p>",
      text: "t",
      tags: {},
    };
    const attempt = { messageId, leaseMs: 30_000, provider: "resend", email };
    expect(
      await startAttempt(db.pool, {
        ...attempt,
        claimToken: "old/1",
        leaseUntil: old?.leaseUntil ?? new Date(),
      }),
    ).toBeNull();
    expect(
      await startAttempt(db.pool, {
        ...attempt,
        claimToken: "new/1",
        leaseUntil: taken?.leaseUntil ?? new Date(),
      }),
    ).toMatchObject({ attempt: 1 });
  });

  it("hands back on stop the messages it has not started, and finishes the one in flight", async () => {
    await Promise.all([pendingEmail(), pendingEmail(), pendingEmail()]);
    // One send at a time, a second apart: the stop comes while the others wait for their turn.
    const w = worker({ ratePerSec: 1, concurrency: 1 });
    w.start();
    await waitFor(async () => (await statuses()).sent === 1, "the first email", { timeoutMs: 10_000 });
    await w.stop();
    expect(await statuses()).toEqual({ sent: 1, pending: 2 });
    const { rows } = await db.pool.query(
      `SELECT count(*)::int AS n FROM notification_messages
       WHERE status = 'pending' AND claimed_by IS NULL AND next_attempt_at <= now()`,
    );
    expect(rows[0]?.n).toBe(2);
  });
});
