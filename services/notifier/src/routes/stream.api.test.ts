// The live stream over real HTTP on two notifier replicas sharing Postgres and NATS: a new
// notification reaches the user's open streams within a second of its event and no other user's
// stream, a change made through either replica
// reaches the streams of both, a stream resumed with Last-Event-ID gets what it missed and nothing
// twice, a user's streams per replica are bounded, and stopping a replica ends its streams.
import { randomUUID } from "node:crypto";
import { createEvent, type EventOf, subjectOf } from "@syncwell/contracts";
import { createHttpServer } from "@syncwell/runtime";
import { type RunningServiceOf, runService } from "@syncwell/service";
import { createLogger } from "@syncwell/telemetry";
import {
  createTestDatabase,
  createTestNats,
  type TestDatabase,
  type TestNats,
  testServiceOptions,
  waitFor,
} from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accessTokenSettings } from "../config.ts";
import { changesSubject, encodeChange } from "../domain/live-changes.ts";
import { LiveStreams } from "../engine/live-streams.ts";
import { notifierService } from "../service.ts";
import {
  createUser,
  openStream,
  type SseClient,
  signingKeys,
  storeNotification,
  tokenFor,
} from "../testing/in-app.ts";
import { registerNotificationRoutes } from "./index.ts";
import type { NotificationView } from "./notification-view.ts";

type Service = RunningServiceOf<typeof notifierService>;

let db: TestDatabase;
let nats: TestNats;
let replicaA: Service;
let replicaB: Service;
const clients: SseClient[] = [];
let clock = Date.now() - 3_600_000;

beforeAll(async () => {
  db = await createTestDatabase({ poolMax: 10 });
  nats = createTestNats("notifier-sse");
  const { env } = await signingKeys();
  const options = async () => testServiceOptions(db, nats, { ...env, NOTIFY_STREAMS_PER_USER: "2" });
  replicaA = await runService(notifierService, await options());
  replicaB = await runService(notifierService, await options());
});

afterAll(async () => {
  for (const client of clients) client.close();
  await replicaA?.stop("test done");
  await replicaB?.stop("test done");
  await nats?.cleanup();
  await db?.drop();
});

async function stream(service: Service, userId: string, lastEventId?: string): Promise<SseClient> {
  const headers: Record<string, string> = { authorization: `Bearer ${await tokenFor(userId)}` };
  if (lastEventId !== undefined) headers["last-event-id"] = lastEventId;
  const client = await openStream(service.url, headers);
  clients.push(client);
  return client;
}

/**
 * The 2nd non-transient failure in a row: a connection_warning for the user. Resolves the time
 * (Date.now) just before the event that makes it was published.
 */
async function warn(userId: string): Promise<number> {
  let publishedAt = 0;
  const connectionId = randomUUID();
  for (const n of [1, 2]) {
    clock += 60_000;
    const event: EventOf<"token.failed"> = createEvent(
      "token.failed",
      {
        userId,
        connectionId,
        provider: "google",
        classification: "permanent",
        errorCode: "invalid_request",
        consecutiveFailures: n,
        consecutiveTransientFailures: 0,
        previousStatus: "connected",
        status: "warning",
        retryAt: null,
      },
      { source: "test", occurredAt: new Date(clock).toISOString() },
    );
    publishedAt = Date.now();
    await replicaA.bus.js.publish(replicaA.bus.naming.subject(subjectOf(event)), JSON.stringify(event), {
      msgID: event.id,
    });
  }
  return publishedAt;
}

const views = (client: SseClient) =>
  client.events.filter((e) => e.event === "notification").map((e) => JSON.parse(e.data) as NotificationView);

const patience = { timeoutMs: 10_000 };

describe("the live stream", () => {
  it("answers with an event stream, and refuses a bad Last-Event-ID naming the header", async () => {
    const userId = await createUser(db.pool);
    const client = await stream(replicaA, userId);
    expect(client.status).toBe(200);
    expect(client.headers["content-type"]).toBe("text/event-stream; charset=utf-8");
    expect(client.headers["x-request-id"]).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    );
    client.close();

    const bad = await stream(replicaA, userId, "12.x");
    expect(bad.status).toBe(400);
    expect(JSON.parse(await bad.body())).toMatchObject({ details: [{ path: "headers.last-event-id" }] });
  });

  it("pushes a new notification within a second of its event, to the user's streams on both replicas only", async () => {
    const userId = await createUser(db.pool);
    const otherUser = await createUser(db.pool);
    const onA = await stream(replicaA, userId);
    const onB = await stream(replicaB, userId);
    const othersOnA = await stream(replicaA, otherUser);
    const othersOnB = await stream(replicaB, otherUser);
    const publishedAt = await warn(userId);
    await waitFor(() => views(onA).length > 0 && views(onB).length > 0, "the notification on both streams", {
      ...patience,
      intervalMs: 10,
    });
    const receivedAt = Date.now();
    const [created] = views(onA);
    expect(created).toMatchObject({ kind: "connection_warning", status: "unread" });
    expect(views(onB)).toEqual(views(onA));
    expect(receivedAt - publishedAt).toBeLessThan(1_000);
    // Another user's streams, on the same replicas, are told nothing of it.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(views(othersOnA)).toEqual([]);
    expect(views(othersOnB)).toEqual([]);
    for (const client of [onA, onB, othersOnA, othersOnB]) client.close();
  });

  it("tells a stream on replica B of a notification marked read through replica A", async () => {
    const userId = await createUser(db.pool);
    await warn(userId);
    await waitFor(
      async () =>
        (await db.pool.query("SELECT 1 FROM notifications WHERE user_id = $1", [userId])).rowCount === 1,
      "the notification",
      patience,
    );
    const onB = await stream(replicaB, userId);
    const { rows } = await db.pool.query<{ id: string }>("SELECT id FROM notifications WHERE user_id = $1", [
      userId,
    ]);
    const id = rows[0]?.id;
    const res = await replicaA.app.inject({
      method: "POST",
      url: `/v1/notifications/${id}/read`,
      headers: { authorization: `Bearer ${await tokenFor(userId)}` },
    });
    expect(res.statusCode).toBe(200);
    await waitFor(() => views(onB).length > 0, "the change on replica B", patience);
    expect(views(onB)).toEqual([expect.objectContaining({ id, status: "read" })]);
    onB.close();
  });

  it("resumes with Last-Event-ID: what was missed, and nothing twice", async () => {
    const userId = await createUser(db.pool);
    const first = await stream(replicaA, userId);
    await warn(userId);
    await waitFor(() => views(first).length === 1, "the first notification", patience);
    const lastId = first.lastEventId();
    first.close();

    // Missed while away: two new notifications, and the first one marked read.
    await warn(userId);
    await warn(userId);
    const token = await tokenFor(userId);
    await waitFor(
      async () =>
        (await db.pool.query("SELECT 1 FROM notifications WHERE user_id = $1", [userId])).rowCount === 3,
      "three notifications",
      patience,
    );
    const firstId = views(first)[0]?.id;
    await replicaB.app.inject({
      method: "POST",
      url: `/v1/notifications/${firstId}/read`,
      headers: { authorization: `Bearer ${token}` },
    });

    const second = await stream(replicaB, userId, lastId);
    await waitFor(() => views(second).length >= 3, "what was missed", patience);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const all = [...views(first), ...views(second)].map((n) => `${n.id}@${n.seq}`);
    expect(new Set(all).size).toBe(all.length);
    expect(views(second)).toHaveLength(3);
    expect(views(second).find((n) => n.id === firstId)).toMatchObject({ status: "read" });
    second.close();
  });

  it("sends a change whose seq committed after a higher one's, and a resume repeats neither", async () => {
    const userId = await createUser(db.pool);
    const x = await storeNotification(db.pool, userId);
    const y = await storeNotification(db.pool, userId);
    const client = await stream(replicaA, userId);
    // x takes its seq first but commits last.
    const slow = await db.pool.connect();
    try {
      await slow.query("BEGIN");
      await slow.query("UPDATE notifications SET status = 'read', read_at = now() WHERE id = $1", [x]);
      const res = await replicaA.app.inject({
        method: "POST",
        url: `/v1/notifications/${y}/read`,
        headers: { authorization: `Bearer ${await tokenFor(userId)}` },
      });
      expect(res.statusCode).toBe(200);
      await waitFor(() => views(client).length === 1, "y's change", patience);
      expect(client.lastEventId()).toMatch(/^\d+\.\d+$/);
      await slow.query("COMMIT");
    } finally {
      slow.release();
    }
    const { rows } = await db.pool.query<{ seq: string }>(
      "SELECT seq::text FROM notifications WHERE id = $1",
      [x],
    );
    const { nc, naming } = replicaA.bus;
    nc.publish(
      naming.subject(changesSubject(userId)),
      encodeChange({ notificationId: x, seq: rows[0]?.seq ?? "" }),
    );
    await waitFor(() => views(client).length === 2, "x's late change", patience);
    const [first, second] = views(client);
    expect([first?.id, second?.id]).toEqual([y, x]);
    expect(BigInt(second?.seq ?? 0)).toBeLessThan(BigInt(first?.seq ?? 0));
    client.close();

    const resumed = await stream(replicaB, userId, client.lastEventId());
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(views(resumed)).toEqual([]);
    resumed.close();
  });

  it("catches up on a long backlog with plain ids, so a resume part-way repeats nothing", async () => {
    const userId = await createUser(db.pool);
    for (let n = 0; n < 150; n += 1) await storeNotification(db.pool, userId, { ageSeconds: 60 });
    const first = await stream(replicaA, userId, "0");
    await waitFor(() => views(first).length === 150, "the backlog", patience);
    const events = first.events.filter((e) => e.event === "notification");
    expect(events.map((e) => e.id)).toEqual(views(first).map((n) => n.seq));
    first.close();

    const resumed = await stream(replicaB, userId, events[69]?.id);
    await waitFor(() => views(resumed).length === 80, "the rest", patience);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(views(resumed).map((n) => n.id)).toEqual(
      views(first)
        .slice(70)
        .map((n) => n.id),
    );
    resumed.close();
  });

  it("resumes from a plain seq, and ids settle to plain seqs", async () => {
    const userId = await createUser(db.pool);
    const client = await stream(replicaA, userId);
    await warn(userId);
    await waitFor(() => views(client).length === 1, "the notification", patience);
    // Once its change has settled, the stream's id is the notification's seq alone.
    await waitFor(() => client.lastEventId() === views(client)[0]?.seq, "the id to settle", {
      timeoutMs: 15_000,
    });
    client.close();
    const resumed = await stream(replicaA, userId, client.lastEventId());
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(views(resumed)).toEqual([]);
    resumed.close();
  });

  it("starts at the latest change when Last-Event-ID is ahead of every change of the user", async () => {
    const userId = await createUser(db.pool);
    await warn(userId);
    await waitFor(
      async () =>
        (await db.pool.query("SELECT 1 FROM notifications WHERE user_id = $1", [userId])).rowCount === 1,
      "the first notification",
      patience,
    );
    const client = await stream(replicaA, userId, "9223372036854775807");
    expect(client.status).toBe(200);
    await warn(userId);
    await waitFor(() => views(client).length === 1, "the next notification on the stream", patience);
    expect(views(client)[0]).toMatchObject({ kind: "connection_warning", status: "unread" });
    client.close();
  });

  it("holds at most NOTIFY_STREAMS_PER_USER streams of one user on one replica", async () => {
    const userId = await createUser(db.pool);
    const open = [await stream(replicaA, userId), await stream(replicaA, userId)];
    const third = await stream(replicaA, userId);
    expect(third.status).toBe(429);
    expect(JSON.parse(await third.body())).toMatchObject({ error: "too_many_requests" });
    expect((await stream(replicaB, userId)).status).toBe(200);
    open[0]?.close();
    await waitFor(() => replicaA.parts.streams.size < 2, "the closed stream to leave", patience);
    expect((await stream(replicaA, userId)).status).toBe(200);
  });

  it("sends a comment line as heartbeat while idle, and outlives the server's request timeout", async () => {
    const logger = createLogger({ service: "notifier-test", level: "silent" });
    const app = createHttpServer({ logger, readiness: [], timeouts: { requestMs: 300, headersMs: 300 } });
    const { nc, naming } = replicaA.bus;
    const access = accessTokenSettings(replicaA.config);
    if (!access) throw new Error("the test config has keys");
    const streams = new LiveStreams({ nc, subject: (s) => naming.subject(s), perUser: 1, logger });
    await registerNotificationRoutes(app, {
      db: replicaA.pool,
      access,
      streams,
      publishChange: () => {},
      heartbeatMs: 100,
    });
    const url = await app.listen({ host: "127.0.0.1", port: 0 });
    try {
      const client = await stream({ url } as Service, await createUser(db.pool));
      const beats = () => client.received().split(": heartbeat\n\n").length - 1;
      await waitFor(() => beats() >= 10, "heartbeats past the request timeout", patience);
      expect(client.events).toEqual([]);
    } finally {
      await app.close();
    }
    expect(streams.size).toBe(0);
  });

  it("ends its streams when the replica stops", async () => {
    const userId = await createUser(db.pool);
    const client = await stream(replicaB, userId);
    const started = Date.now();
    await replicaB.stop("test");
    await client.body();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(replicaB.parts.streams.size).toBe(0);
  });
});
