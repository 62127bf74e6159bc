import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { streams } from "@syncwell/contracts";
import { withTransaction } from "@syncwell/db";
import { createTestDatabase, type TestDatabase, waitFor } from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyOnce, type Bus, enqueueEvents } from "../src/index.ts";
import { createTestNats, refreshedEvent, sleep, testBus } from "./helpers.ts";

const nats = createTestNats("outbox");
let bus: Bus;
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
  bus = await testBus(nats);
  await bus.provision();
});

afterAll(async () => {
  await bus?.close();
  await nats.cleanup();
  await db?.drop();
});

async function messagesWithId(id: string): Promise<number> {
  const name = bus.naming.stream(streams.tokens);
  const info = await bus.jsm.streams.info(name);
  if (info.state.messages === 0) return 0;
  const consumer = await bus.js.consumers.get(name);
  let count = 0;
  for (let i = 0; i < info.state.messages; i++) {
    const m = await consumer.next({ expires: 2_000 });
    if (!m) break;
    if (m.json<{ id: string }>().id === id) count++;
  }
  return count;
}

async function unpublished(): Promise<number> {
  const { rows } = await db.pool.query(
    "SELECT count(*)::int AS n FROM outbox_events WHERE published_at IS NULL",
  );
  return rows[0].n as number;
}

describe("outbox", () => {
  it("publishes a committed event within milliseconds, woken by NOTIFY", async () => {
    const relay = await bus.startOutboxRelay({ pool: db.pool, pollIntervalMs: 60_000 });
    const seen = new Map<string, number>();
    const consumer = await bus.consume({
      durable: "outbox-prompt",
      stream: "tokens",
      filterSubject: "token.refreshed",
      handlers: {
        "token.refreshed": async (e) => {
          seen.set(e.id, performance.now());
        },
      },
    });
    const event = refreshedEvent();
    const committed = await withTransaction(db.pool, async (client) => {
      await enqueueEvents(client, event);
      return performance.now();
    });
    // The poll interval is a minute: only the notification can deliver it this fast.
    await waitFor(() => seen.has(event.id), "the event to arrive", { timeoutMs: 15_000 });
    const elapsed = (seen.get(event.id) as number) - committed;
    expect(elapsed).toBeLessThan(15_000);
    await consumer.stop();
    await relay.stop();
  });

  it("misses no notification that arrives while a drain is finishing", async () => {
    // Each event is committed as soon as the previous one arrived, so its NOTIFY often lands while
    // the relay is still winding up the drain that published the previous one. With a one-minute
    // poll, a lost wake-up shows as an event that does not arrive.
    const relay = await bus.startOutboxRelay({ pool: db.pool, pollIntervalMs: 60_000 });
    const seen = new Set<string>();
    const consumer = await bus.consume({
      durable: "outbox-every-wake",
      stream: "tokens",
      filterSubject: "token.refreshed",
      handlers: {
        "token.refreshed": async (e) => {
          seen.add(e.id);
        },
      },
    });
    for (let i = 0; i < 80; i++) {
      const event = refreshedEvent();
      await withTransaction(db.pool, (client) => enqueueEvents(client, event));
      await waitFor(() => seen.has(event.id), `event ${i} to arrive`, { timeoutMs: 5_000, intervalMs: 1 });
    }
    await consumer.stop();
    await relay.stop();
  });

  it("publishes nothing for a rolled-back transaction", async () => {
    const event = refreshedEvent();
    await expect(
      withTransaction(db.pool, async (client) => {
        await enqueueEvents(client, event);
        throw new Error("business rule failed");
      }),
    ).rejects.toThrow("business rule failed");
    const relay = await bus.startOutboxRelay({ pool: db.pool });
    await relay.flush();
    await relay.stop();
    expect(await messagesWithId(event.id)).toBe(0);
  });

  it("delivers an event once after a crash between commit and publish", async () => {
    const child = spawn(
      process.execPath,
      [fileURLToPath(new URL("./fixtures/enqueue-and-die.ts", import.meta.url))],
      {
        env: { ...process.env, DATABASE_URL: db.url },
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    let out = "";
    child.stdout.on("data", (d) => {
      out += String(d);
    });
    const signal = await new Promise((resolve) => child.on("exit", (_code, sig) => resolve(sig)));
    expect(signal).toBe("SIGKILL");
    const id = out.trim();
    const { rows } = await db.pool.query("SELECT published_at FROM outbox_events WHERE id = $1", [id]);
    expect(rows).toEqual([{ published_at: null }]);

    // A new process (the restarted service) starts its relay: the event goes out, once.
    const relay = await bus.startOutboxRelay({ pool: db.pool });
    await relay.flush();
    await relay.stop();
    expect(await messagesWithId(id)).toBe(1);
    const after = await db.pool.query("SELECT published_at FROM outbox_events WHERE id = $1", [id]);
    expect(after.rows[0].published_at).not.toBeNull();
  });

  it("stores an event once when the relay died after publishing but before marking the row", async () => {
    const event = refreshedEvent();
    await enqueueEvents(db.pool, event);
    await bus.publish(event); // what the dead relay managed to do
    const relay = await bus.startOutboxRelay({ pool: db.pool });
    await relay.flush();
    await relay.stop();
    expect(await messagesWithId(event.id)).toBe(1);
    expect(await unpublished()).toBe(0);
  });

  it("two relays share the outbox without publishing any event twice", async () => {
    const events = Array.from({ length: 300 }, () => refreshedEvent());
    const before = await bus.jsm.streams.info(bus.naming.stream(streams.tokens));
    const busB = await testBus(nats, "relay-b");
    const [a, b] = await Promise.all([
      bus.startOutboxRelay({ pool: db.pool, batchSize: 20 }),
      busB.startOutboxRelay({ pool: db.pool, batchSize: 20 }),
    ]);
    for (let i = 0; i < events.length; i += 30) {
      await withTransaction(db.pool, (client) => enqueueEvents(client, events.slice(i, i + 30)));
    }
    await Promise.all([a.flush(), b.flush()]);
    const after = await bus.jsm.streams.info(bus.naming.stream(streams.tokens));
    expect(after.state.messages - before.state.messages).toBe(events.length);
    const duplicates = async (x: Bus) =>
      (await x.metrics.published.get()).values
        .filter((v) => v.labels.outcome === "duplicate")
        .reduce((s, v) => s + v.value, 0);
    expect((await duplicates(bus)) + (await duplicates(busB))).toBe(1); // the one from the previous test
    await a.stop();
    await b.stop();
    await busB.close();
    expect(await unpublished()).toBe(0);
  });
});

describe("inbox", () => {
  it("applies a redelivered or re-published event once", async () => {
    await db.pool.query("CREATE TABLE test_counter (id text PRIMARY KEY, n int NOT NULL)");
    await db.pool.query("INSERT INTO test_counter VALUES ('c', 0)");
    const event = refreshedEvent();
    let handlerRuns = 0;
    const consumer = await bus.consume({
      durable: "inbox-counter",
      stream: "tokens",
      filterSubject: "token.refreshed",
      handlers: {
        "token.refreshed": async (e, ctx) => {
          if (e.id !== event.id) return; // the backlog of earlier tests
          handlerRuns++;
          await applyOnce(db.pool, ctx.consumer, e, async (client) => {
            await client.query("UPDATE test_counter SET n = n + 1 WHERE id = 'c'");
          });
        },
      },
    });
    await bus.publish(event);
    // Re-published by hand under another message id: the stream stores it again, the inbox stops it.
    await bus.js.publish(bus.naming.subject("token.refreshed"), JSON.stringify(event), {
      msgID: `${event.id}-again`,
    });
    await waitFor(() => handlerRuns >= 2, "both copies handled");
    const { rows } = await db.pool.query("SELECT n FROM test_counter");
    expect(rows[0].n).toBe(1);
    await consumer.stop();
  });

  it("lets only one of two concurrent deliveries apply", async () => {
    const event = refreshedEvent();
    const results = await Promise.all(
      [1, 2, 3].map(() => applyOnce(db.pool, "race", event, async () => sleep(50).then(() => "done"))),
    );
    expect(results.filter((r) => r.applied)).toHaveLength(1);
  });
});
