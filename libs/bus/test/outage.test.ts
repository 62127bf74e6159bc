// The bus through an outage of Postgres or NATS: the outbox relay and its LISTEN connection come
// back by themselves, failures are logged once per interval, and readiness (ping) fails fast while
// NATS is away. Outages are made with a TCP proxy in front of the shared servers.
import { createPool, withTransaction } from "@syncwell/db";
import {
  capturingLogger,
  createTestDatabase,
  startTcpProxy,
  type TcpProxy,
  type TestDatabase,
  testNatsUrl,
  waitFor,
} from "@syncwell/testing";
import type pg from "pg";
import pino from "pino";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Bus, createBus, enqueueEvents, OUTBOX_CHANNEL } from "../src/index.ts";
import { createTestNats, refreshedEvent, sleep } from "./helpers.ts";

const nats = createTestNats("outage");
let db: TestDatabase;
let pgProxy: TcpProxy;
let natsProxy: TcpProxy;
const open: { close(): Promise<unknown> }[] = [];

async function busVia(servers: string, logger = pino({ level: "silent" })): Promise<Bus> {
  const bus = await createBus({
    servers,
    prefix: nats.prefix,
    name: "outage-test",
    logger,
    registry: new Registry(),
    streamOverrides: nats.streamOverrides,
  });
  open.push(bus);
  return bus;
}

function relayPool(): pg.Pool {
  const pool = createPool(pgProxy.rewrite(db.url), { max: 4 });
  open.push({ close: () => pool.end() });
  return pool;
}

/** Ids of the token.refreshed events a subscription saw. */
function collect(bus: Bus): Set<string> {
  const seen = new Set<string>();
  const sub = bus.nc.subscribe(bus.naming.subject("token.refreshed"), {
    callback: (_err, msg) => seen.add(msg.json<{ id: string }>().id),
  });
  open.push({ close: async () => sub.unsubscribe() });
  return seen;
}

async function enqueue(): Promise<string> {
  const event = refreshedEvent();
  await withTransaction(db.pool, (client) => enqueueEvents(client, event));
  return event.id;
}

async function listeners(): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity
     WHERE datname = current_database() AND state = 'idle' AND query = $1`,
    [`LISTEN ${OUTBOX_CHANNEL}`],
  );
  return rows[0]?.n ?? 0;
}

beforeAll(async () => {
  db = await createTestDatabase();
  pgProxy = await startTcpProxy({ host: "127.0.0.1", port: Number(new URL(db.url).port || 5432) });
  const natsUrl = new URL(testNatsUrl);
  natsProxy = await startTcpProxy({ host: natsUrl.hostname, port: Number(natsUrl.port || 4222) });
  const admin = await busVia(nats.url);
  await admin.provision();
});

afterAll(async () => {
  for (const item of open.reverse()) await item.close().catch(() => undefined);
  await pgProxy?.close();
  await natsProxy?.close();
  await nats.cleanup();
  await db?.drop();
});

describe("outbox relay through a Postgres outage", () => {
  it("listens again by itself: an event committed after the outage leaves on its notification", async () => {
    const bus = await busVia(nats.url);
    const seen = collect(bus);
    // A one-minute poll: after the first drain, only notifications make the relay publish.
    const relay = await bus.startOutboxRelay({ pool: relayPool(), pollIntervalMs: 60_000 });
    open.push({ close: () => relay.stop() });
    const before = await enqueue();
    await waitFor(() => seen.has(before), "an event before the outage");

    pgProxy.cut();
    const during = await enqueue(); // committed directly; the relay cannot see it
    await sleep(3_000);
    pgProxy.restore();

    // Back on LISTEN, the relay looks at once for what was committed while it was deaf.
    await waitFor(() => seen.has(during), "the event committed during the outage", { timeoutMs: 10_000 });
    await waitFor(async () => (await listeners()) === 1, "exactly one LISTEN connection");
    const after = await enqueue();
    const committed = performance.now();
    await waitFor(() => seen.has(after), "an event committed after the outage", { timeoutMs: 5_000 });
    expect(performance.now() - committed).toBeLessThan(5_000);
    await relay.stop();
  });

  it("backs off while Postgres is away and logs one line for the outage, then one when it works again", async () => {
    const { logger, lines } = capturingLogger();
    const bus = await busVia(nats.url, logger);
    const seen = collect(bus);
    // Polling every 50 ms: without a back-off that is some 80 failed rounds in four seconds.
    const relay = await bus.startOutboxRelay({ pool: relayPool(), pollIntervalMs: 50 });
    open.push({ close: () => relay.stop() });
    pgProxy.cut();
    await sleep(4_000);
    pgProxy.restore();
    const after = await enqueue();
    await waitFor(() => seen.has(after), "an event after the outage", { timeoutMs: 10_000 });

    const relayLines = () => lines.filter((l) => l.component === "outbox-relay").map((l) => l.msg);
    // Logged once the round has committed, which may be just after the event reached NATS.
    const recovered = await waitFor(
      () => relayLines().find((m) => m.startsWith("relaying the outbox works again")),
      "the relay's recovery line",
    );
    const failures = relayLines().filter((m) => m.startsWith("relaying the outbox failed"));
    expect(failures).toEqual(["relaying the outbox failed; retrying"]);
    const rounds = Number(recovered?.match(/after (\d+) failures?/)?.[1]);
    expect(rounds).toBeGreaterThan(0);
    expect(rounds).toBeLessThan(15);
    await relay.stop();
  });

  it("stops promptly while Postgres is away (one last attempt, no retries)", async () => {
    const bus = await busVia(nats.url);
    const relay = await bus.startOutboxRelay({ pool: relayPool(), pollIntervalMs: 50 });
    pgProxy.cut();
    await sleep(1_500);
    const started = performance.now();
    await relay.stop();
    expect(performance.now() - started).toBeLessThan(2_000);
    pgProxy.restore();
  });
});

describe("the bus through a NATS outage", () => {
  it("fails its ping at once while NATS is away, reconnects, consumes and relays again", async () => {
    const { logger, lines } = capturingLogger();
    const bus = await busVia(natsProxy.rewrite(nats.url), logger);
    const seen = new Set<string>();
    const consumer = await bus.consume({
      durable: "outage-consumer",
      stream: "tokens",
      filterSubject: "token.refreshed",
      handlers: {
        "token.refreshed": async (e) => {
          seen.add(e.id);
        },
      },
    });
    const relay = await bus.startOutboxRelay({ pool: db.pool, pollIntervalMs: 200 });
    open.push({ close: () => relay.stop() });
    await bus.ping();

    natsProxy.cut();
    await waitFor(
      () =>
        bus.ping().then(
          () => false,
          () => true,
        ),
      "ping to fail",
    );
    const started = performance.now();
    await expect(bus.ping()).rejects.toThrow(/disconnected/);
    expect(performance.now() - started).toBeLessThan(100);
    const during = await enqueue();
    await sleep(3_000);
    natsProxy.restore();

    const restored = performance.now();
    await waitFor(
      () =>
        bus.ping().then(
          () => true,
          () => false,
        ),
      "ping to succeed",
      { timeoutMs: 10_000 },
    );
    expect(performance.now() - restored).toBeLessThan(5_000);
    expect(consumer.running).toBe(true);
    await waitFor(() => seen.has(during), "the event enqueued during the outage", { timeoutMs: 15_000 });
    const after = await enqueue();
    await waitFor(() => seen.has(after), "an event enqueued after the outage", { timeoutMs: 10_000 });
    expect(lines.map((l) => l.msg)).toEqual(
      expect.arrayContaining(["NATS connection lost; reconnecting", "NATS connection restored"]),
    );
    await consumer.stop();
    await relay.stop();
  });
});
