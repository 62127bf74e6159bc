// The notifier as its own NATS user, on a nats-server with the generated configuration: its
// durables, its outbox's notification.created and its live-stream subject are all it needs, and
// the server logs no permission violation.
import { randomUUID } from "node:crypto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { type Bus, createBus } from "@syncwell/bus";
import { type EventOf, natsInboxPrefix } from "@syncwell/contracts";
import { type RunningServiceOf, runService } from "@syncwell/service";
import { createLogger } from "@syncwell/telemetry";
import {
  createTestDatabase,
  needsReauthEvent,
  type SecuredNats,
  startSecuredNats,
  type TestDatabase,
  testServiceOptions,
  testStreamOverrides,
  waitFor,
} from "@syncwell/testing";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeChange } from "./domain/live-changes.ts";
import { notifierService } from "./service.ts";

let nats: SecuredNats;
let db: TestDatabase;
let operator: Bus;
let watcher: NatsConnection;
let service: RunningServiceOf<typeof notifierService>;

beforeAll(async () => {
  nats = await startSecuredNats("notify");
  db = await createTestDatabase();
  const { password } = nats.credentials("operator");
  operator = await createBus({
    servers: nats.url,
    prefix: nats.prefix,
    name: "operator",
    logger: createLogger({ service: "operator", level: "silent" }),
    registry: new Registry(),
    streamOverrides: testStreamOverrides,
    user: "operator",
    password,
  });
  watcher = await connect({
    servers: nats.url,
    user: "operator",
    pass: password,
    inboxPrefix: natsInboxPrefix("operator"),
  });
  const testNats = {
    url: nats.url,
    prefix: nats.prefix,
    streamOverrides: testStreamOverrides,
    cleanup: async () => {},
  };
  service = await runService(
    notifierService,
    await testServiceOptions(db, testNats, nats.serviceEnv("notifier")),
  );
});

afterAll(async () => {
  await service?.stop("test done");
  await watcher?.close();
  await operator?.close();
  await db?.drop();
  await nats?.stop();
});

describe("the notifier's NATS user", () => {
  it("consumes token.failed, announces notification.created and tells the user's live streams", async () => {
    const userId = randomUUID();
    await db.pool.query(`INSERT INTO users (id, email) VALUES ($1, $2)`, [userId, `${userId}@example.test`]);
    const created: EventOf<"notification.created">[] = [];
    const changes: string[] = [];
    watcher.subscribe(`${nats.prefix}.notification.created`, {
      callback: (_err, msg) => {
        created.push(msg.json());
      },
    });
    watcher.subscribe(`${nats.prefix}.notifier.changes.${userId}`, {
      callback: (_err, msg) => {
        changes.push(decodeChange(msg.string())?.notificationId ?? "?");
      },
    });
    await watcher.flush();

    await operator.publish(needsReauthEvent({ userId, connectionId: randomUUID(), provider: "google" }));
    const announced = await waitFor(() => created.length >= 2 && created, "notification.created", {
      timeoutMs: 20_000,
    });
    expect(announced.map((e) => e.data.channel).sort()).toEqual(["email", "in_app"]);
    await waitFor(() => changes.length > 0, "the live-stream change", { timeoutMs: 20_000 });
    expect(changes).toEqual([announced[0]?.data.notificationId]);
    expect(nats.log()).not.toMatch(/Violation/i);
  });
});
