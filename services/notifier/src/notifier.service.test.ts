// The notifier as a service (runService with its consumers) on real NATS and Postgres: the token
// ladder from events to notifications and pending emails, a recovery resolving its episode, one
// event delivered three times applied once, a flapping connection held by the cooldown, health
// turning critical, and each notification announced once per channel (notification.created) and
// to the user's live streams (notifier.changes.<userId>).
import { randomUUID } from "node:crypto";
import { connect, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { type AnyEvent, createEvent, type EventOf, streams, subjectOf } from "@syncwell/contracts";
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
import { decodeChange, type NotificationChange } from "./domain/live-changes.ts";
import { notifierService } from "./service.ts";

const patience = { timeoutMs: 20_000 };
const MIN = 60_000;
const RECONNECT = "https://app.syncwell.test/connections/{connectionId}/reconnect";

type TokenFailed = EventOf<"token.failed">;
type Created = EventOf<"notification.created">;

type StoredNotification = {
  id: string;
  kind: string;
  priority: string;
  status: string;
  resolution: string | null;
  dedupKey: string;
  link: string | null;
  seq: string;
  messages: { channel: string; status: string; toAddress: string | null; due: boolean }[];
};

describe("the notifier", () => {
  let db: TestDatabase;
  let nats: TestNats;
  let nc: NatsConnection;
  const subscriptions: Subscription[] = [];
  let service: RunningServiceOf<typeof notifierService>;
  const created: Created[] = [];
  const changes: { userId: string; change: NotificationChange }[] = [];
  /** Event times: every test's events are later than the last one's, all within the cooldown. */
  let clock = Date.now() - 60 * MIN;

  const at = (minutesLater = 1) => {
    clock += minutesLater * MIN;
    return new Date(clock).toISOString();
  };

  async function user(): Promise<string> {
    const id = randomUUID();
    await db.pool.query(`INSERT INTO users (id, email) VALUES ($1, $2)`, [id, `${id}@example.test`]);
    return id;
  }

  /** A failed refresh; the counts are the failures in a row after it, of each kind. */
  function failed(
    c: { userId: string; connectionId: string },
    counts: { transient?: number; other?: number },
    change: Partial<TokenFailed["data"]> = {},
  ): TokenFailed {
    const transient = counts.transient ?? 0;
    const other = counts.other ?? 0;
    return createEvent(
      "token.failed",
      {
        ...c,
        provider: "google",
        classification: other > 0 ? "permanent" : "transient",
        errorCode: other > 0 ? "invalid_request" : "http_503",
        consecutiveFailures: transient + other,
        consecutiveTransientFailures: transient,
        previousStatus: "connected",
        status: "warning",
        retryAt: null,
        ...change,
      },
      { source: "test", occurredAt: at() },
    );
  }

  function recovered(c: { userId: string; connectionId: string }): EventOf<"token.refreshed"> {
    return createEvent(
      "token.refreshed",
      {
        ...c,
        provider: "google",
        expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
        refreshTokenRotated: false,
        recovered: true,
        previousStatus: "warning",
      },
      { source: "test", occurredAt: at() },
    );
  }

  /** Publishes through JetStream with a message id of its own, so the stream keeps every copy. */
  async function deliver(event: AnyEvent, copy = 0): Promise<void> {
    const subject = service.bus.naming.subject(subjectOf(event));
    await service.bus.js.publish(subject, JSON.stringify(event), { msgID: `${event.id}#${copy}` });
  }

  /** Waits until the notifier's consumer `durable` has applied the event (its inbox row). */
  async function applied(event: AnyEvent, durable: string): Promise<void> {
    await waitFor(
      async () =>
        (
          await db.pool.query(`SELECT 1 FROM processed_events WHERE consumer = $1 AND event_id = $2`, [
            durable,
            event.id,
          ])
        ).rowCount === 1,
      `${event.type} ${event.id} to be applied`,
      patience,
    );
  }

  /** Waits until the durable has handled and acknowledged everything published to its stream. */
  async function settled(stream: keyof typeof streams, durable: string): Promise<void> {
    const name = service.bus.naming.stream(streams[stream]);
    await waitFor(
      async () => {
        const info = await service.bus.jsm.consumers.info(name, durable);
        return info.num_pending === 0 && info.num_ack_pending === 0;
      },
      `${durable} to settle`,
      patience,
    );
  }

  async function send(event: TokenFailed): Promise<void> {
    await deliver(event);
    await applied(event, "notifier-token-failed");
  }

  async function notificationsOf(userId: string): Promise<StoredNotification[]> {
    const { rows } = await db.pool.query<StoredNotification>(
      `SELECT n.id, n.kind, n.priority, n.status, n.resolution, n.dedup_key AS "dedupKey", n.link,
              n.seq::text,
              (SELECT coalesce(jsonb_agg(jsonb_build_object('channel', m.channel, 'status', m.status,
                        'toAddress', m.to_address, 'due', m.next_attempt_at IS NOT NULL) ORDER BY m.channel), '[]')
               FROM notification_messages m WHERE m.notification_id = n.id) AS messages
       FROM notifications n WHERE n.user_id = $1 ORDER BY n.id`,
      [userId],
    );
    return rows;
  }

  const kinds = async (userId: string) => (await notificationsOf(userId)).map((n) => n.kind);

  const inApp = { channel: "in_app", status: "delivered", toAddress: null, due: false };

  beforeAll(async () => {
    db = await createTestDatabase({ poolMax: 10 });
    nats = createTestNats("notifier");
    nc = await connect({ servers: nats.url });
    subscriptions.push(
      nc.subscribe(`${nats.prefix}.notification.created`, {
        callback: (_err, msg) => {
          created.push(msg.json<Created>());
        },
      }),
      nc.subscribe(`${nats.prefix}.notifier.changes.*`, {
        callback: (_err, msg) => {
          const change = decodeChange(msg.string());
          const userId = msg.subject.split(".").at(-1) ?? "";
          if (change) changes.push({ userId, change });
        },
      }),
    );
    await nc.flush();
    service = await runService(
      notifierService,
      await testServiceOptions(db, nats, { NOTIFY_RECONNECT_URL: RECONNECT, NOTIFY_COOLDOWN: "6h" }),
    );
  });

  afterAll(async () => {
    await service?.stop("test done");
    for (const s of subscriptions) s.unsubscribe();
    await nc?.close();
    await nats?.cleanup();
    await db?.drop();
  });

  it("climbs the ladder: a warning at the 2nd failure, disconnected with a pending email at the 3rd", async () => {
    const userId = await user();
    const c = { userId, connectionId: randomUUID() };
    await send(failed(c, { other: 1 }));
    expect(await notificationsOf(userId)).toEqual([]);

    await send(failed(c, { other: 2 }));
    const [warning] = await notificationsOf(userId);
    expect(warning).toMatchObject({
      kind: "connection_warning",
      priority: "normal",
      status: "unread",
      dedupKey: `connection_warning:${c.connectionId}:1`,
      link: null,
      messages: [inApp],
    });

    await send(failed(c, { other: 3 }, { status: "needs_reauth" }));
    const [superseded, disconnected] = await notificationsOf(userId);
    expect(superseded).toMatchObject({
      kind: "connection_warning",
      status: "resolved",
      resolution: "superseded",
    });
    expect(disconnected).toMatchObject({
      kind: "connection_disconnected",
      priority: "critical",
      status: "unread",
      link: `https://app.syncwell.test/connections/${c.connectionId}/reconnect`,
      messages: [
        { channel: "email", status: "pending", toAddress: `${userId}@example.test`, due: true },
        inApp,
      ],
    });
    // Resolving the warning gave it a seq after the disconnection's insert.
    expect(BigInt(superseded?.seq ?? 0)).toBeGreaterThan(BigInt(disconnected?.seq ?? 0));
  });

  it("takes an event dated in the future as happening when it arrived: a disconnection after it is still told", async () => {
    const userId = await user();
    const c = { userId, connectionId: randomUUID() };
    // Published by hand, or by a producer whose clock runs ahead.
    await send({ ...failed(c, { transient: 2 }), occurredAt: "2100-01-01T00:00:00.000Z" });
    expect(await kinds(userId)).toEqual(["connection_warning"]);

    const lost = failed(c, { other: 3 }, { errorCode: "invalid_grant", status: "needs_reauth" });
    await send({ ...lost, occurredAt: new Date().toISOString() });
    expect(await kinds(userId)).toEqual(["connection_warning", "connection_disconnected"]);
  });

  it("tells a transient streak once at the 2nd failure and once, without email, at the 5th", async () => {
    const userId = await user();
    const c = { userId, connectionId: randomUUID() };
    for (let n = 1; n <= 5; n += 1) await send(failed(c, { transient: n }));
    const [warning, rateLimited] = await notificationsOf(userId);
    expect(warning).toMatchObject({
      kind: "connection_warning",
      status: "resolved",
      resolution: "superseded",
    });
    expect(rateLimited).toMatchObject({
      kind: "connection_rate_limited",
      priority: "low",
      status: "unread",
      messages: [inApp],
    });
    expect(await kinds(userId)).toHaveLength(2);
  });

  it("passes over the operator's own failures and refreshes that are no recovery, storing nothing", async () => {
    const userId = await user();
    const c = { userId, connectionId: randomUUID() };
    for (let n = 1; n <= 4; n += 1) {
      await deliver(
        failed(
          c,
          { other: n },
          { classification: "operator", errorCode: "invalid_client", status: "connected" },
        ),
      );
    }
    await deliver({ ...recovered(c), data: { ...recovered(c).data, recovered: false } });
    await settled("tokens", "notifier-token-failed");
    await settled("tokens", "notifier-token-refreshed");
    expect(await notificationsOf(userId)).toEqual([]);
    const { rows } = await db.pool.query(
      `SELECT count(*)::int AS episodes FROM notification_episodes WHERE user_id = $1`,
      [userId],
    );
    expect(rows).toEqual([{ episodes: 0 }]);
  });

  it("resolves the episode's open notifications on recovery and says the connection is back", async () => {
    const userId = await user();
    const c = { userId, connectionId: randomUUID() };
    await send(failed(c, { other: 1 }, { status: "needs_reauth" }));
    const back = recovered(c);
    await deliver(back);
    await applied(back, "notifier-token-refreshed");
    const [disconnected, reconnected] = await notificationsOf(userId);
    expect(disconnected).toMatchObject({
      kind: "connection_disconnected",
      status: "resolved",
      resolution: "recovered",
    });
    expect(reconnected).toMatchObject({
      kind: "connection_reconnected",
      priority: "low",
      status: "unread",
      dedupKey: `connection_reconnected:${c.connectionId}:1`,
      messages: [inApp],
    });
    const { rows } = await db.pool.query(
      `SELECT number, closed_at IS NOT NULL AS closed, open_kinds AS "openKinds", level
       FROM notification_episodes WHERE user_id = $1 AND subject_key = $2`,
      [userId, `connection:${c.connectionId}`],
    );
    expect(rows).toEqual([{ number: 1, closed: true, openKinds: [], level: 3 }]);
  });

  it("applies one token.failed delivered three times once: one notification, one email, one announcement per channel", async () => {
    const userId = await user();
    const c = { userId, connectionId: randomUUID() };
    const event = failed(c, { other: 1 }, { errorCode: "invalid_grant", status: "needs_reauth" });
    await Promise.all([deliver(event, 1), deliver(event, 2), deliver(event, 3)]);
    // And three more at once straight into the batches, so copies meet within one batch.
    await Promise.all([1, 2, 3].map(() => service.parts.batches.submit("notifier-token-failed", event)));
    await applied(event, "notifier-token-failed");
    const { rows } = await db.pool.query(
      `SELECT count(*)::int AS n FROM processed_events WHERE event_id = $1`,
      [event.id],
    );
    expect(rows).toEqual([{ n: 1 }]);
    const [disconnected, ...others] = await notificationsOf(userId);
    expect(others).toEqual([]);
    expect(disconnected?.messages.map((m) => m.channel)).toEqual(["email", "in_app"]);

    const announced = await waitFor(
      () => {
        const mine = created.filter((e) => e.data.userId === userId);
        return mine.length >= 2 && mine;
      },
      "notification.created for both channels",
      patience,
    );
    // The relay has published what committed; give a duplicate the time to show.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(created.filter((e) => e.data.userId === userId)).toHaveLength(2);
    expect(announced.map((e) => e.data.channel).sort()).toEqual(["email", "in_app"]);
    for (const e of announced) {
      expect(e.data).toMatchObject({
        notificationId: disconnected?.id,
        kind: "connection_disconnected",
        dedupKey: `connection_disconnected:${c.connectionId}:1`,
      });
      expect(e.source).toBe("notifier");
    }
    const live = await waitFor(
      () => changes.find((ch) => ch.userId === userId),
      "the change on the user's live subject",
      patience,
    );
    expect(live.change).toEqual({ notificationId: disconnected?.id, seq: disconnected?.seq });
  });

  it("holds a flapping connection's warning and reconnection within the cooldown", async () => {
    const userId = await user();
    const c = { userId, connectionId: randomUUID() };
    for (let round = 1; round <= 3; round += 1) {
      await send(failed(c, { transient: 1 }));
      await send(failed(c, { transient: 2 }));
      const back = recovered(c);
      await deliver(back);
      await applied(back, "notifier-token-refreshed");
    }
    // Told once per cooldown: the first episode's warning and reconnection, nothing after.
    expect(await kinds(userId)).toEqual(["connection_warning", "connection_reconnected"]);
    const { rows } = await db.pool.query(
      `SELECT number, closed_at IS NOT NULL AS closed FROM notification_episodes WHERE user_id = $1`,
      [userId],
    );
    // The episodes still opened and closed.
    expect(rows).toEqual([{ number: 3, closed: true }]);
  });

  it("tells a user in-app, with high priority and no email, when a contact's health turns critical", async () => {
    const userId = await user();
    const contactId = randomUUID();
    const event = createEvent(
      "health.changed",
      {
        subjectKind: "contact",
        subjectId: contactId,
        userId,
        previousStatus: "at_risk",
        status: "critical",
        previousScore: 45,
        score: 20,
        components: { recency: 0.1 },
        reason: "No reply in 45 days",
      },
      { source: "test", occurredAt: at() },
    );
    await deliver(event);
    await applied(event, "notifier-health");
    expect(await notificationsOf(userId)).toMatchObject([
      {
        kind: "health_critical",
        priority: "high",
        status: "unread",
        dedupKey: `health_critical:contact:${contactId}:1`,
        messages: [inApp],
      },
    ]);
  });

  it("deletes a user's notifications, messages and episodes with the user", async () => {
    const userId = await user();
    const c = { userId, connectionId: randomUUID() };
    await send(failed(c, { other: 1 }, { status: "needs_reauth" }));
    expect(await kinds(userId)).toEqual(["connection_disconnected"]);
    await db.pool.query(`DELETE FROM users WHERE id = $1`, [userId]);
    const { rows } = await db.pool.query(
      `SELECT (SELECT count(*)::int FROM notifications WHERE user_id = $1) AS notifications,
              (SELECT count(*)::int FROM notification_messages m
                 WHERE NOT EXISTS (SELECT 1 FROM notifications n WHERE n.id = m.notification_id)) AS orphans,
              (SELECT count(*)::int FROM notification_episodes WHERE user_id = $1) AS episodes`,
      [userId],
    );
    expect(rows).toEqual([{ notifications: 0, orphans: 0, episodes: 0 }]);
  });

  it("applies an event about a user deleted since, telling nobody", async () => {
    const event = failed({ userId: randomUUID(), connectionId: randomUUID() }, { other: 3 });
    await send(event);
    const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM notifications WHERE user_id = $1`, [
      event.data.userId,
    ]);
    expect(rows).toEqual([{ n: 0 }]);
  });
});
