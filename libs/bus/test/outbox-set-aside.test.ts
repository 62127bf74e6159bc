import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { AnyEvent } from "@syncwell/contracts";
import { withTransaction } from "@syncwell/db";
import {
  createTestDatabase,
  startTcpProxy,
  type TcpProxy,
  type TestDatabase,
  waitFor,
} from "@syncwell/testing";
import { Registry } from "prom-client";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type Bus, createBus, enqueueEvents, listSetAside, retrySetAside } from "../src/index.ts";
import { createTestNats, refreshedEvent, silentLogger, testBus } from "./helpers.ts";

/**
 * The relay against real Postgres and JetStream: each service relays only its own rows, and a row
 * that cannot be published is set aside after a bounded number of attempts without holding up the
 * rows behind it, while an outage of NATS sets nothing aside.
 */

const cli = fileURLToPath(new URL("../src/cli/outbox.ts", import.meta.url));
const nats = createTestNats("outboxaside");
let db: TestDatabase;
let bus: Bus;
const seen = new Set<string>();

function eventFrom(source: string): AnyEvent {
  return { ...refreshedEvent(), source };
}

/** A row its writer could not have validated: the envelope's data lacks a required field. */
async function insertInvalid(source: string): Promise<string> {
  const event = eventFrom(source);
  const { userId: _dropped, ...data } = event.data as Record<string, unknown>;
  const payload = { ...event, data };
  await db.pool.query(
    "INSERT INTO outbox_events (id, subject, type, payload) VALUES ($1, 'token.refreshed', 'token.refreshed', $2)",
    [event.id, JSON.stringify(payload)],
  );
  return event.id;
}

async function enqueue(events: AnyEvent[]): Promise<void> {
  await withTransaction(db.pool, (client) => enqueueEvents(client, events));
}

async function row(id: string) {
  const { rows } = await db.pool.query<{
    published_at: Date | null;
    set_aside_at: Date | null;
    set_aside_reason: string | null;
    attempts: number;
    source: string;
  }>(
    "SELECT published_at, set_aside_at, set_aside_reason, attempts, source FROM outbox_events WHERE id = $1",
    [id],
  );
  return rows[0];
}

beforeAll(async () => {
  db = await createTestDatabase();
  bus = await testBus(nats);
  await bus.provision();
  await bus.consume({
    durable: "aside-observer",
    stream: "tokens",
    filterSubject: "token.refreshed",
    startAt: "all",
    handlers: { "token.refreshed": async (e) => void seen.add(e.id) },
  });
});

afterAll(async () => {
  await bus?.close();
  await nats.cleanup();
  await db?.drop();
});

beforeEach(async () => {
  await db.pool.query("TRUNCATE outbox_events");
});

describe("outbox relay", () => {
  it("relays only the rows its own service wrote", async () => {
    const mine = [eventFrom("poller"), eventFrom("poller")];
    const theirs = [eventFrom("notifier")];
    await enqueue([...mine, ...theirs]);
    expect((await row(theirs[0]?.id as string))?.source).toBe("notifier");
    const relay = await bus.startOutboxRelay({ pool: db.pool, source: "poller" });
    await relay.flush();
    await waitFor(() => mine.every((e) => seen.has(e.id)), "the poller's events");
    expect((await row(theirs[0]?.id as string))?.published_at).toBeNull();
    await relay.stop();

    const other = await bus.startOutboxRelay({ pool: db.pool, source: "notifier" });
    await other.flush();
    await waitFor(() => seen.has(theirs[0]?.id as string), "the notifier's event");
    await other.stop();
  });

  it("sets a row that keeps failing aside after its attempts, while the rows behind it flow", async () => {
    const bad = await insertInvalid("token-service");
    const relay = await bus.startOutboxRelay({ pool: db.pool, source: "token-service", maxAttempts: 3 });
    const good: AnyEvent[] = [];
    for (let i = 0; i < 5; i++) {
      const batch = [eventFrom("token-service"), eventFrom("token-service")];
      good.push(...batch);
      await enqueue(batch);
      await relay.flush();
    }
    await waitFor(() => good.every((e) => seen.has(e.id)), "every good event, published past the bad one");
    const aside = await waitFor(async () => {
      await relay.flush();
      const r = await row(bad);
      return r?.set_aside_at ? r : undefined;
    }, "the bad row to be set aside");
    expect(aside.attempts).toBe(3);
    expect(aside.set_aside_reason).toContain("userId");
    expect(seen.has(bad)).toBe(false);
    expect((await listSetAside(db.pool, { source: "token-service" })).map((r) => r.id)).toEqual([bad]);
    const metrics = await bus.metrics.outboxSetAside.get();
    expect(metrics.values.find((v) => v.labels.type === "token.refreshed")?.value).toBeGreaterThanOrEqual(1);

    // The cause fixed (here: the row itself), an operator puts it back in line.
    await db.pool.query("UPDATE outbox_events SET payload = $2 WHERE id = $1", [
      bad,
      JSON.stringify({ ...eventFrom("token-service"), id: bad }),
    ]);
    expect(await retrySetAside(db.pool, { ids: [bad] })).toEqual([bad]);
    await relay.flush();
    await waitFor(() => seen.has(bad), "the retried event");
    await relay.stop();
  });

  it("sets nothing aside while NATS is away: an outage is not a bad row", async () => {
    const proxy: TcpProxy = await startTcpProxy({
      host: "127.0.0.1",
      port: Number(new URL(nats.url).port || 4222),
    });
    const cutBus = await createBus({
      servers: proxy.rewrite(nats.url),
      prefix: nats.prefix,
      name: "cut",
      logger: silentLogger,
      registry: new Registry(),
      streamOverrides: nats.streamOverrides,
      publishTimeoutMs: 500,
    });
    const relay = await cutBus.startOutboxRelay({ pool: db.pool, source: "scheduler", maxAttempts: 1 });
    proxy.cut();
    const events = [eventFrom("scheduler"), eventFrom("scheduler")];
    await enqueue(events);
    // Several rounds fail (each publish times out); a flush would wait for the outage to end.
    await waitFor(
      async () => {
        const failed = (await cutBus.metrics.published.get()).values.filter(
          (v) => v.labels.outcome === "failed",
        );
        return failed.reduce((n, v) => n + v.value, 0) >= 2 * events.length;
      },
      "two failed rounds",
      { timeoutMs: 20_000 },
    );
    for (const e of events) expect((await row(e.id))?.set_aside_at).toBeNull();
    proxy.restore();
    await waitFor(() => events.every((e) => seen.has(e.id)), "the events after NATS returns", {
      timeoutMs: 20_000,
    });
    for (const e of events) expect((await row(e.id))?.set_aside_at).toBeNull();
    await relay.stop();
    await cutBus.close();
    await proxy.close();
  }, 40_000);

  it("npm run outbox lists set-aside rows (exit 3) and puts them back in line (exit 0)", async () => {
    const bad = await insertInvalid("poller");
    await db.pool.query(
      "UPDATE outbox_events SET set_aside_at = now(), set_aside_reason = 'invalid: data.userId' WHERE id = $1",
      [bad],
    );
    const run = promisify(execFile);
    const env = { ...process.env, DATABASE_URL: db.url };
    const listed = await run(process.execPath, [cli, "--source", "poller"], { env }).catch(
      (err: { code: number; stdout: string }) => err,
    );
    expect(listed.code).toBe(3);
    expect(listed.stdout).toContain(bad);
    expect(listed.stdout).toContain("invalid: data.userId");
    const retried = await run(process.execPath, [cli, "--retry-all"], { env });
    expect(retried.stdout).toContain(`1 event(s) put back in line: ${bad}`);
    expect(retried.stdout).toContain("no outbox event is set aside");
    expect((await row(bad))?.set_aside_at).toBeNull();
    const usage = await run(process.execPath, [cli, "--retry", "not-a-uuid"], { env }).catch(
      (err: { code: number; stderr: string }) => err,
    );
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("not-a-uuid");
  });
});
