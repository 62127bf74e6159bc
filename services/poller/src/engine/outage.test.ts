// The poll engine through a Postgres outage (a TCP proxy in front of the shared server, cut for a
// few seconds): a lane whose claims fail backs off, logs the outage once rather than per attempt,
// and polls what is due once Postgres is back; nothing escapes as an unhandled error.
import { randomBytes } from "node:crypto";
import { createPool } from "@syncwell/db";
import { createTestDatabase, startTcpProxy, type TcpProxy, type TestDatabase } from "@syncwell/testing";
import type pg from "pg";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakePlatform, fakeConnector, items } from "../testing/fake-platform.ts";
import { createConnection, createUser, testCipher, testEngine } from "../testing/fixtures.ts";

let db: TestDatabase;
let proxy: TcpProxy;
let pool: pg.Pool;
let platform: FakePlatform;

beforeAll(async () => {
  db = await createTestDatabase();
  proxy = await startTcpProxy({ host: "127.0.0.1", port: Number(new URL(db.url).port || 5432) });
  pool = createPool(proxy.rewrite(db.url), { max: 8 });
  platform = await new FakePlatform("outage").start();
});

afterAll(async () => {
  await pool?.end();
  await proxy?.close();
  await platform?.close();
  await db?.drop();
});

describe("a lane through a Postgres outage", () => {
  it("backs off, logs one line for the outage and one when claiming works again, then polls", async () => {
    const name = `o${randomBytes(4).toString("hex")}`;
    const connector = fakeConnector({
      platform: name,
      provider: "github",
      baseUrl: platform.url,
      requiredScopes: [name],
    });
    const lines: Array<{ level: number; msg: string; platform?: string }> = [];
    const logger = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const engine = testEngine(pool, [{ connector }], { settings: { runHorizonMs: 30_000 }, logger });
    const token = `tok-${randomBytes(6).toString("hex")}`;
    platform.setItems(token, items("o", 2));
    const connectionId = await createConnection(db.pool, testCipher(), {
      userId: await createUser(db.pool),
      provider: "github",
      accessToken: token,
      scopes: [name],
    });
    expect(await engine.run({ linger: false })).toMatchObject({ polled: 1 });

    // Due again in a second and a half: the lingering run sleeps until then, then claims into the outage.
    await db.pool.query(
      "UPDATE sync_states SET next_poll_at = now() + interval '1.5 seconds' WHERE connection_id = $1",
      [connectionId],
    );
    platform.setItems(token, items("o", 3));
    const run = engine.run();
    await new Promise((resolve) => setTimeout(resolve, 500));
    proxy.cut();
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    proxy.restore();
    const summary = await run;
    await engine.stop();

    expect(summary).toMatchObject({ polled: 1, failed: 0, records_added: 1 });
    const claimLines = lines.filter((l) => l.msg.startsWith("claiming due sync states"));
    expect(claimLines[0]).toMatchObject({
      level: 50,
      msg: "claiming due sync states failed; retrying",
      platform: name,
    });
    expect(claimLines).toHaveLength(2);
    // Backed off: waits of 0.5–1, 1–2 and 2–4 s over a five-second outage, not one attempt a second.
    const attempts = Number(
      claimLines[1]?.msg.match(/^claiming due sync states works again after (\d+) failures?/)?.[1],
    );
    expect(attempts).toBeGreaterThanOrEqual(2);
    expect(attempts).toBeLessThanOrEqual(4);
  }, 40_000);

  it("logs the outage once for all lanes, not once per platform", async () => {
    const lines: Array<{ level: number; msg: string; platform?: string }> = [];
    const logger = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const names = ["a", "b", "c"].map((lane) => `o${lane}${randomBytes(4).toString("hex")}`);
    const connectors = names.map((name) =>
      fakeConnector({ platform: name, provider: "github", baseUrl: platform.url, requiredScopes: [name] }),
    );
    const engine = testEngine(
      pool,
      connectors.map((connector) => ({ connector })),
      { settings: { runHorizonMs: 30_000 }, logger },
    );
    const token = `tok-${randomBytes(6).toString("hex")}`;
    platform.setItems(token, items("m", 2));
    const connectionId = await createConnection(db.pool, testCipher(), {
      userId: await createUser(db.pool),
      provider: "github",
      accessToken: token,
      scopes: names,
    });
    expect(await engine.run({ linger: false })).toMatchObject({ polled: 3 });

    // Every lane sleeps until its row is due, then claims into the outage.
    await db.pool.query(
      "UPDATE sync_states SET next_poll_at = now() + interval '1.5 seconds' WHERE connection_id = $1",
      [connectionId],
    );
    const run = engine.run();
    await new Promise((resolve) => setTimeout(resolve, 500));
    proxy.cut();
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    proxy.restore();
    const summary = await run;
    await engine.stop();

    expect(summary).toMatchObject({ polled: 3, failed: 0 });
    const failing = lines.filter((l) => l.level >= 40);
    expect(failing.map((l) => l.msg)).toEqual(["claiming due sync states failed; retrying"]);
    expect(names).toContain(failing[0]?.platform);
    expect(lines.filter((l) => l.msg.startsWith("claiming due sync states works again"))).toHaveLength(1);
  }, 40_000);
});
