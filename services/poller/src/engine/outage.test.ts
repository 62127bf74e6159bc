// The poll engine through a Postgres outage (a TCP proxy in front of the shared server, cut for a
// few seconds): a lane whose claims fail backs off, logs the outage once rather than per attempt,
// and polls what is due once Postgres is back; nothing escapes as an unhandled error.
import { randomBytes } from "node:crypto";
import { createPool } from "@syncwell/db";
import {
  capturingLogger,
  createTestDatabase,
  startTcpProxy,
  type TcpProxy,
  type TestDatabase,
} from "@syncwell/testing";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakePlatform, fakeConnector, items } from "../testing/fake-platform.ts";
import { createConnection, createUser, testCipher, testEngine } from "../testing/fixtures.ts";
import type { PollEngine } from "./poll-engine.ts";

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

/**
 * Makes the connection's sync states due again in a second and a half and starts a lingering run:
 * its lanes sleep until then and claim into an outage of `outageMs` that starts half a second in.
 * Resolves the run's summary once Postgres is back and the run ended; the engine is stopped.
 */
async function runIntoOutage(engine: PollEngine, connectionId: string, outageMs: number) {
  await db.pool.query(
    "UPDATE sync_states SET next_poll_at = now() + interval '1.5 seconds' WHERE connection_id = $1",
    [connectionId],
  );
  const run = engine.run();
  await new Promise((resolve) => setTimeout(resolve, 500));
  proxy.cut();
  await new Promise((resolve) => setTimeout(resolve, outageMs));
  proxy.restore();
  const summary = await run;
  await engine.stop();
  return summary;
}

describe("a lane through a Postgres outage", () => {
  it("backs off, logs one line for the outage and one when claiming works again, then polls", async () => {
    const name = `o${randomBytes(4).toString("hex")}`;
    const connector = fakeConnector({
      platform: name,
      provider: "github",
      baseUrl: platform.url,
      requiredScopes: [name],
    });
    const { logger, lines } = capturingLogger();
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

    platform.setItems(token, items("o", 3));
    const summary = await runIntoOutage(engine, connectionId, 5_000);

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
    const { logger, lines } = capturingLogger();
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

    const summary = await runIntoOutage(engine, connectionId, 4_000);

    expect(summary).toMatchObject({ polled: 3, failed: 0 });
    const failing = lines.filter((l) => l.level >= 40);
    expect(failing.map((l) => l.msg)).toEqual(["claiming due sync states failed; retrying"]);
    expect(names).toContain(failing[0]?.platform);
    expect(lines.filter((l) => l.msg.startsWith("claiming due sync states works again"))).toHaveLength(1);
  }, 40_000);
});
