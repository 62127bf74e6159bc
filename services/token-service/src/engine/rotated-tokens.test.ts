import { setTimeout as sleep } from "node:timers/promises";
import { type Bus, createBus } from "@syncwell/bus";
import type { TokenCipher } from "@syncwell/credentials";
import { findJobRun, type JobRunRecord } from "@syncwell/db";
import { createSimulator, type Simulator, SimulatorControl } from "@syncwell/provider-simulator";
import { createLogger } from "@syncwell/telemetry";
import {
  createTestDatabase,
  createTestNats,
  finishedJobRun,
  freePort,
  publishTick,
  startTcpProxy,
  type TcpProxy,
  type TestDatabase,
  type TestNats,
  waitFor,
} from "@syncwell/testing";
import { Registry } from "prom-client";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { cipherFor, randomKey } from "../testing/fixtures.ts";
import { type SeededConnection, seedConnections } from "../testing/refresh-support.ts";
import {
  type ServiceChild,
  spawnTokenService,
  startTestReplica,
  type TokenServiceReplica,
  tokenServiceTestEnv,
} from "../testing/service-child.ts";
import { RotationJournal } from "./rotation-journal.ts";

/**
 * The rotated refresh token in a provider's answer is the one thing the service can never get back.
 * These tests lose Postgres (through a proxy: the machine's server is shared), stop and kill
 * replicas, and delay answers past the send timeout, against a simulator with RFC 9700 reuse
 * detection: a replaced refresh token presented again revokes the whole grant, so a lost token
 * shows up as a reuse and a disconnected user.
 */

const key = randomKey();
let db: TestDatabase;
let nats: TestNats;
let sim: Simulator;
let control: SimulatorControl;
let cipher: TokenCipher;
let bus: Bus;
let journal: RotationJournal;
let proxy: TcpProxy;
const children: ServiceChild[] = [];
const replicas: TokenServiceReplica[] = [];

/** Through the proxy to Postgres, which a test cuts. */
function serviceEnv(extra: Record<string, string> = {}): Record<string, string> {
  return tokenServiceTestEnv(
    { databaseUrl: proxy.rewrite(db.url), nats, simUrl: sim.url, key },
    {
      LOG_LEVEL: "info",
      REFRESH_CONCURRENCY: "50",
      REFRESH_TIMEOUT: "2s",
      REFRESH_ANSWER_TIMEOUT: "30s",
      REFRESH_CLAIM_LEASE: "10s",
      SHUTDOWN_TIMEOUT_MS: "40s",
      OTEL_SDK_DISABLED: "true",
      ...extra,
    },
  );
}

async function spawnChild(extra: Record<string, string> = {}): Promise<ServiceChild> {
  const child = spawnTokenService(serviceEnv(extra), await freePort());
  children.push(child);
  return child;
}

/** A replica in this process, straight to Postgres (the recovery side of a test). */
async function startReplica(): Promise<TokenServiceReplica> {
  const service = await startTestReplica(
    { ...serviceEnv({ LOG_LEVEL: "silent" }), DATABASE_URL: db.url },
    nats,
  );
  replicas.push(service);
  return service;
}

function tick(): Promise<string> {
  return publishTick({ db: db.pool, bus }, "token-refresh", { source: "scheduler" });
}

function finished(jobRunId: string, timeoutMs: number): Promise<JobRunRecord> {
  return finishedJobRun(db.pool, jobRunId, timeoutMs);
}

type Row = { id: string; status: string; refresh_token_encrypted: string; last_error_code: string | null };

async function rows(): Promise<Row[]> {
  const result = await db.pool.query<Row>(
    "SELECT id, status, refresh_token_encrypted, last_error_code FROM connections ORDER BY id",
  );
  return result.rows;
}

/** Connections whose stored refresh token is the one the provider holds now. */
async function inStep(): Promise<Set<string>> {
  const current = new Map((await control.grants()).map((g) => [g.connectionKey, g.refreshToken]));
  return new Set(
    (await rows())
      .filter((r) => cipher.decrypt(r.refresh_token_encrypted) === current.get(r.id))
      .map((r) => r.id),
  );
}

/** Connections whose stored refresh token is no longer the one they were seeded with. */
async function refreshedSinceSeed(seeded: readonly SeededConnection[]): Promise<Set<string>> {
  const first = new Map(seeded.map((c) => [c.id, c.refreshToken]));
  return new Set(
    (await rows())
      .filter((r) => cipher.decrypt(r.refresh_token_encrypted) !== first.get(r.id))
      .map((r) => r.id),
  );
}

/** Nothing lost: every stored token is the provider's current one, no reuse, nobody disconnected. */
async function expectNothingLost(count: number): Promise<void> {
  expect((await control.stats()).reusedRefreshTokens).toBe(0);
  const all = await rows();
  expect(all).toHaveLength(count);
  expect(all.filter((r) => r.status !== "connected")).toEqual([]);
  expect((await inStep()).size).toBe(count);
}

/** Waits until every connection has been refreshed since `since` (the run went on to the end). */
async function allRefreshedSince(since: Date, count: number, timeoutMs: number): Promise<void> {
  await waitFor(
    async () => {
      const { rows: done } = await db.pool.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM connections WHERE last_refreshed_at > $1",
        [since],
      );
      return (done[0]?.n ?? 0) >= count;
    },
    `${count} connections refreshed`,
    { timeoutMs, intervalMs: 250 },
  );
}

beforeAll(async () => {
  db = await createTestDatabase({ poolMax: 10 });
  nats = createTestNats("tsrotate");
  sim = await createSimulator({ latencyMs: 20, latencyJitterMs: 5 });
  control = new SimulatorControl(sim.url);
  cipher = cipherFor({ k1: key }, "k1");
  const target = new URL(db.url);
  proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  const logger = createLogger({ service: "observer", level: "silent" });
  bus = await createBus({
    servers: nats.url,
    prefix: nats.prefix,
    name: "observer",
    logger,
    registry: new Registry(),
    streamOverrides: nats.streamOverrides,
  });
  await bus.provision();
  journal = new RotationJournal({ js: bus.js, jsm: bus.jsm, naming: bus.naming, cipher, logger });
}, 60_000);

afterEach(async () => {
  proxy.restore();
  for (const child of children.splice(0)) {
    if (child.running) {
      child.process.kill("SIGKILL");
      await child.exited;
    }
  }
  await Promise.all(replicas.splice(0).map((r) => r.stop("test done")));
});

afterAll(async () => {
  await bus?.close();
  await proxy?.close();
  await sim?.close();
  await nats?.cleanup();
  await db?.drop();
});

beforeEach(async () => {
  await control.reset();
  await db.pool.query("TRUNCATE connections, users, outbox_events, job_runs CASCADE");
});

describe("a rotated refresh token is never lost", () => {
  it("Postgres cut for 20 s mid-run: no exit, readiness 503 and back, every rotated token stored", async () => {
    const seededAt = new Date();
    await seedConnections(db.pool, cipher, sim, { provider: "spotify", count: 200 });
    // Answers take a second: a wave of them is in flight when Postgres goes.
    await control.addFault({ provider: "spotify", fault: { kind: "late_answer", ms: 1_000 }, times: null });
    const child = await spawnChild();
    await child.ready();
    expect(await child.readyz()).toBe(200);

    const jobRunId = await tick();
    await waitFor(async () => (await control.stats()).rotations >= 50, "the first answers", {
      timeoutMs: 20_000,
    });
    proxy.cut();
    const cutAt = Date.now();
    await waitFor(async () => (await child.readyz()) === 503, "/readyz to answer 503", { timeoutMs: 10_000 });
    // Answers keep arriving during the outage: they go to the journal and wait for Postgres.
    await waitFor(async () => (await journal.size()) > 0, "answers journaled during the outage", {
      timeoutMs: 10_000,
    });
    await sleep(Math.max(0, 20_000 - (Date.now() - cutAt)));
    expect(child.running).toBe(true);
    proxy.restore();
    await waitFor(async () => (await child.readyz()) === 200, "/readyz to answer 200 again", {
      timeoutMs: 15_000,
    });

    await allRefreshedSince(seededAt, 200, 90_000);
    const run = await finished(jobRunId, 60_000);
    expect(run.status).toBe("succeeded");
    await expectNothingLost(200);
    await waitFor(async () => (await journal.size()) === 0, "the journal to empty", { timeoutMs: 10_000 });
    expect(child.running).toBe(true);
    // The outage was logged as such, not once per retry.
    const outageLines = child.lines.filter((l) =>
      String(l.msg).startsWith("writing refresh outcomes to Postgres failed"),
    );
    expect(outageLines.length).toBeGreaterThanOrEqual(1);
    expect(outageLines.length).toBeLessThanOrEqual(3);
  }, 180_000);

  it("Postgres cut, the service stopped and started again before it returns: still nothing lost", async () => {
    const seededAt = new Date();
    await seedConnections(db.pool, cipher, sim, { provider: "spotify", count: 100 });
    await control.addFault({ provider: "spotify", fault: { kind: "late_answer", ms: 1_500 }, times: null });
    const first = await spawnChild({ SHUTDOWN_TIMEOUT_MS: "8s" });
    await first.ready();
    await tick();
    await waitFor(() => first.lines.some((l) => l.msg === "token refresh run started"), "the run to start");
    await sleep(300);
    proxy.cut();
    // Answers, not messages: answers arriving while writes are out share a message.
    const journaledAnswers = async () => (await journal.pending()).flatMap((entry) => entry.answers).length;
    await waitFor(async () => (await journaledAnswers()) >= 20, "answers journaled", { timeoutMs: 10_000 });

    first.process.kill("SIGTERM");
    const stopped = await first.exited;
    expect(stopped.signal).toBeNull();
    expect(first.output()).toContain("rotated tokens among them are in the journal");
    expect(await journaledAnswers()).toBeGreaterThanOrEqual(20);

    // Restarted while Postgres is still away: it cannot start without it, so it is started again
    // (as a supervisor would) until it can.
    let second: ServiceChild | undefined;
    const restoreAt = Date.now() + 5_000;
    while (!second) {
      if (Date.now() > restoreAt) proxy.restore();
      const attempt = await spawnChild();
      try {
        await attempt.ready(15_000);
        second = attempt;
      } catch {
        await attempt.exited;
      }
    }
    await waitFor(async () => (await journal.size()) === 0, "the journal to be replayed", {
      timeoutMs: 20_000,
    });
    await finished(await tick(), 60_000);
    await allRefreshedSince(seededAt, 100, 30_000);
    await expectNothingLost(100);
  }, 180_000);

  it("SIGTERM mid-run: answers in flight are awaited and stored, nothing lost", async () => {
    const seeded = await seedConnections(db.pool, cipher, sim, { provider: "spotify", count: 100 });
    await control.addFault({ provider: "spotify", fault: { kind: "late_answer", ms: 1_500 }, times: null });
    const child = await spawnChild();
    await child.ready();
    await tick();
    await waitFor(() => child.lines.some((l) => l.msg === "token refresh run started"), "the run to start");
    await sleep(300);
    child.process.kill("SIGTERM");
    expect(await child.exited).toEqual({ code: 0, signal: null });

    // Every answer that arrived was stored; nothing else was sent.
    const stats = await control.stats();
    expect(stats.rotations).toBeGreaterThanOrEqual(1);
    expect((await inStep()).size).toBe(100);
    expect((await refreshedSinceSeed(seeded)).size).toBe(stats.rotations);

    await control.clearFaults();
    await startReplica();
    await finished(await tick(), 60_000);
    await expectNothingLost(100);
  }, 120_000);

  it("kill -9 mid-run: only answers not yet durable are lost, and they show rotation_lost", async () => {
    const seeded = await seedConnections(db.pool, cipher, sim, { provider: "spotify", count: 60 });
    const slow = new Set(seeded.slice(0, 20).map((c) => c.id));
    for (const id of slow) {
      await control.addFault({ connectionKey: id, fault: { kind: "late_answer", ms: 4_000 } });
    }
    const child = await spawnChild();
    await child.ready();
    await tick();
    // The fast answers are stored; the slow ones have rotated at the provider and are on their way.
    await waitFor(
      async () => (await refreshedSinceSeed(seeded)).size >= 40,
      "the fast answers to be stored",
      {
        timeoutMs: 20_000,
      },
    );
    await sleep(300);
    child.process.kill("SIGKILL");
    await child.exited;

    // Durable at the kill: stored in Postgres, or in the journal.
    const journaled = new Set((await journal.pending()).flatMap((e) => e.answers.map((a) => a.connectionId)));
    const stepped = await inStep();
    const notDurable = seeded.map((c) => c.id).filter((id) => !stepped.has(id) && !journaled.has(id));
    expect(notDurable.every((id) => slow.has(id))).toBe(true);

    await startReplica();
    await finished(await tick(), 60_000);
    const after = await rows();
    const lost = after.filter((r) => r.status !== "connected");
    expect(lost.length).toBeGreaterThan(0);
    expect(lost.length).toBeLessThanOrEqual(notDurable.length);
    for (const row of lost) {
      expect(notDurable).toContain(row.id);
      expect(row).toMatchObject({ status: "needs_reauth", last_error_code: "rotation_lost" });
    }
    const current = await inStep();
    for (const row of after.filter((r) => r.status === "connected")) expect(current.has(row.id)).toBe(true);
    expect(child.output()).not.toContain(seeded[0]?.refreshToken);
  }, 120_000);

  it("a redelivered tick continues its job run: each connection counted once", async () => {
    await seedConnections(db.pool, cipher, sim, { provider: "google", count: 50 });
    const replica = await startReplica();
    const jobRunId = await tick();
    expect((await finished(jobRunId, 30_000)).counts).toEqual({
      checked: 50,
      refreshed: 50,
      failed: 0,
      skipped: 0,
    });
    // The same tick again (the bus redelivers it after a crash), with every token due again.
    await db.pool.query("UPDATE connections SET access_token_expires_at = now()");
    await replica.parts.refresh.coordinator.runTick(jobRunId, replica.logger);
    expect((await findJobRun(db.pool, jobRunId))?.counts).toEqual({
      checked: 50,
      refreshed: 50,
      failed: 0,
      skipped: 0,
    });
    expect(await control.requests({ provider: "google" })).toHaveLength(50);
  }, 60_000);
});
