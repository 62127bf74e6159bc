import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { type Bus, createBus, type RunningConsumer } from "@syncwell/bus";
import type { AnyEvent } from "@syncwell/contracts";
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
  type TestDatabase,
  type TestNats,
  waitFor,
} from "@syncwell/testing";
import { Registry } from "prom-client";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { cipherFor, randomKey } from "../testing/fixtures.ts";
import { type SeededConnection, seedConnections } from "../testing/refresh-support.ts";
import { startTestReplica, type TokenServiceReplica, tokenServiceTestEnv } from "../testing/service-child.ts";

/**
 * Several token-service replicas against one database, NATS and simulator: in-process replicas
 * (runService, the real consumers) and one replica as a child process that is killed mid-batch.
 */

const mainPath = fileURLToPath(new URL("../main.ts", import.meta.url));
const key = randomKey();
let db: TestDatabase;
let nats: TestNats;
let sim: Simulator;
let control: SimulatorControl;
let cipher: TokenCipher;
let bus: Bus;
let observer: RunningConsumer;
const published: AnyEvent[] = [];
const replicas: TokenServiceReplica[] = [];
const children: ChildProcess[] = [];

function serviceEnv(extra: Record<string, string> = {}): Record<string, string> {
  return tokenServiceTestEnv(
    { databaseUrl: db.url, nats, simUrl: sim.url, key },
    { LOG_LEVEL: "silent", REFRESH_TIMEOUT: "3s", REFRESH_CLAIM_LEASE: "20s", ...extra },
  );
}

async function startReplica(extra: Record<string, string> = {}): Promise<TokenServiceReplica> {
  const service = await startTestReplica(serviceEnv(extra), nats);
  replicas.push(service);
  return service;
}

async function stopReplicas(): Promise<void> {
  await Promise.all(replicas.splice(0).map((r) => r.stop("test done")));
}

/** Publishes a token-refresh tick with its job run, as the scheduler does. */
function tick(): Promise<string> {
  return publishTick({ db: db.pool, bus }, "token-refresh", { source: "scheduler" });
}

function finished(jobRunId: string, timeoutMs: number): Promise<JobRunRecord> {
  return finishedJobRun(db.pool, jobRunId, timeoutMs);
}

/** Every claim ever made, from a trigger on the test database. */
async function claimLog(): Promise<{ connection_id: string; claimed_by: string }[]> {
  const { rows } = await db.pool.query<{ connection_id: string; claimed_by: string }>(
    "SELECT connection_id, claimed_by FROM test_claim_log ORDER BY seq",
  );
  return rows;
}

beforeAll(async () => {
  db = await createTestDatabase({ poolMax: 10 });
  nats = createTestNats("tsreplicas");
  sim = await createSimulator({ latencyMs: 10, latencyJitterMs: 10 });
  control = new SimulatorControl(sim.url);
  cipher = cipherFor({ k1: key }, "k1");
  await db.pool.query(`
    CREATE TABLE test_claim_log (seq bigserial PRIMARY KEY, connection_id uuid NOT NULL, claimed_by text NOT NULL);
    CREATE FUNCTION test_log_claim() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      -- A claim sets refresh_claimed_by; a lease renewal keeps it and only moves refresh_claimed_until.
      IF NEW.refresh_claimed_by IS NOT NULL
         AND NEW.refresh_claimed_by IS DISTINCT FROM OLD.refresh_claimed_by THEN
        INSERT INTO test_claim_log (connection_id, claimed_by) VALUES (NEW.id, NEW.refresh_claimed_by);
      END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER test_log_claim AFTER UPDATE OF refresh_claimed_by, refresh_claimed_until ON connections
      FOR EACH ROW EXECUTE FUNCTION test_log_claim();`);
  bus = await createBus({
    servers: nats.url,
    prefix: nats.prefix,
    name: "observer",
    logger: createLogger({ service: "observer", level: "silent" }),
    registry: new Registry(),
    streamOverrides: nats.streamOverrides,
  });
  await bus.provision();
  observer = await bus.consume({
    durable: "test-observer",
    stream: "tokens",
    filterSubject: "token.>",
    concurrency: 64,
    handlers: {
      "token.refreshed": async (e) => void published.push(e),
      "token.failed": async (e) => void published.push(e),
    },
  });
}, 60_000);

afterAll(async () => {
  for (const child of children) child.kill("SIGKILL");
  await stopReplicas();
  await observer?.stop();
  await bus?.close();
  await sim?.close();
  await nats?.cleanup();
  await db?.drop();
});

beforeEach(async () => {
  await stopReplicas();
  await control.reset();
  published.length = 0;
  await db.pool.query("TRUNCATE connections, users, outbox_events, job_runs, test_claim_log CASCADE");
});

describe("several replicas", () => {
  it("refresh 1,000 rotating connections on one tick: each exactly once, none claimed twice, no token replayed", async () => {
    const seeded: SeededConnection[] = [];
    for (const provider of ["spotify", "github-app", "discord", "slack"] as const) {
      seeded.push(...(await seedConnections(db.pool, cipher, sim, { provider, count: 250 })));
    }
    // Three replicas share this process's event loop (and the simulator's): keep the bursts modest.
    const modest = { REFRESH_CONCURRENCY: "8", REFRESH_TIMEOUT: "10s", REFRESH_CLAIM_LEASE: "30s" };
    await Promise.all([startReplica(modest), startReplica(modest), startReplica(modest)]);

    const jobRunId = await tick();
    const run = await finished(jobRunId, 60_000);
    expect(run.status).toBe("succeeded");
    expect(run.counts).toEqual({ checked: 1000, refreshed: 1000, failed: 0, skipped: 0 });

    const requests = await control.requests();
    expect(requests).toHaveLength(1000);
    expect(new Set(requests.map((r) => r.connectionKey)).size).toBe(1000);
    expect(requests.every((r) => r.status === 200 && r.error === null && !r.reusedRefreshToken)).toBe(true);

    const claims = await claimLog();
    expect(claims).toHaveLength(1000);
    expect(new Set(claims.map((c) => c.connection_id)).size).toBe(1000);
    // The work was shared: every replica claimed some of it.
    expect(new Set(claims.map((c) => c.claimed_by)).size).toBe(3);

    const grants = new Map((await control.grants()).map((g) => [g.connectionKey, g.refreshToken]));
    const { rows } = await db.pool.query<{ id: string; refresh_token_encrypted: string; status: string }>(
      "SELECT id, refresh_token_encrypted, status FROM connections",
    );
    for (const row of rows) {
      expect(row.status).toBe("connected");
      expect(cipher.decrypt(row.refresh_token_encrypted)).toBe(grants.get(row.id));
    }

    await waitFor(() => published.length >= 1000 || undefined, "1,000 token.refreshed events on the bus", {
      timeoutMs: 20_000,
    });
    const refreshed = published.filter((e) => e.type === "token.refreshed");
    expect(new Set(refreshed.map((e) => (e.data as { connectionId: string }).connectionId)).size).toBe(1000);
    expect(refreshed.every((e) => (e.data as { refreshTokenRotated: boolean }).refreshTokenRotated)).toBe(
      true,
    );
    expect(seeded).toHaveLength(1000);
  }, 120_000);

  it("take over the claims of a replica killed mid-batch within the next tick", async () => {
    const google = await seedConnections(db.pool, cipher, sim, { provider: "google", count: 200 });
    const spotify = await seedConnections(db.pool, cipher, sim, { provider: "spotify", count: 40 });
    // Spotify hangs for the doomed replica: its claims are held, its requests never processed.
    await control.addFault({ provider: "spotify", fault: { kind: "timeout" }, times: null });
    await control.setLatency({ ms: 30, jitterMs: 0 });

    const port = await freePort();
    const child = spawn(process.execPath, [mainPath], {
      env: {
        ...process.env,
        // A short lease, so its claims lapse soon after it dies.
        ...serviceEnv({
          HTTP_PORT: String(port),
          LOG_LEVEL: "info",
          PROVIDER_GOOGLE_CONCURRENCY: "4",
          REFRESH_CLAIM_LEASE: "6s",
        }),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    const lines: Record<string, unknown>[] = [];
    let stdout = "";
    let stderr = "";
    createInterface({ input: child.stdout }).on("line", (line) => {
      stdout += `${line}\n`;
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not a log line
      }
    });
    child.stderr.on("data", (d) => {
      stderr += String(d);
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on("exit", (_code, signal) => resolve(signal)),
    );
    const ready = await waitFor(
      () => lines.find((l) => l.msg === "token refresh ready"),
      `the child replica to start (stderr: ${stderr})`,
      { timeoutMs: 30_000 },
    );
    const doomed = String(ready.replica);
    await waitFor(() => lines.some((l) => l.msg === "token-service ready") || undefined, "consumers", {
      timeoutMs: 30_000,
    });

    const firstTick = await tick();
    await waitFor(
      async () =>
        (await control.requests({ provider: "google" })).length >= 40 && sim.hangingRequests() >= 20,
      "the child replica to be mid-batch",
      { timeoutMs: 20_000 },
    );
    child.kill("SIGKILL");
    expect(await exited).toBe("SIGKILL");

    const { rows: held } = await db.pool.query<{ id: string }>(
      "SELECT id FROM connections WHERE refresh_claimed_by = $1 AND refresh_claimed_until > now()",
      [doomed],
    );
    expect(held.length).toBeGreaterThanOrEqual(20);
    await control.clearFaults();
    await control.setLatency({ ms: 5, jitterMs: 0 });

    await Promise.all([startReplica(), startReplica()]);
    const secondTick = await tick();
    const run = await finished(secondTick, 30_000);
    expect(run.status).toBe("succeeded");
    expect((await findJobRun(db.pool, firstTick))?.finishedAt).toBeNull();

    const { rows } = await db.pool.query<{
      id: string;
      access_token_expires_at: Date;
      refresh_claimed_by: string | null;
    }>("SELECT id, access_token_expires_at, refresh_claimed_by FROM connections");
    expect(rows).toHaveLength(240);
    for (const row of rows) {
      expect(row.refresh_claimed_by).toBeNull();
      expect(row.access_token_expires_at.getTime()).toBeGreaterThan(Date.now() + 30 * 60_000);
    }
    const claims = await claimLog();
    for (const { id } of held) {
      const takers = claims.filter((c) => c.connection_id === id).map((c) => c.claimed_by);
      expect(takers[0]).toBe(doomed);
      expect(takers.slice(1)).toHaveLength(1);
      expect(takers[1]).not.toBe(doomed);
    }
    const spotifyRequests = await control.requests({ provider: "spotify" });
    expect(spotifyRequests.every((r) => !r.reusedRefreshToken && r.error === null)).toBe(true);
    expect(new Set(spotifyRequests.filter((r) => r.status === 200).map((r) => r.connectionKey)).size).toBe(
      40,
    );

    // The killed replica's own log never showed a token either.
    for (const c of [...google, ...spotify]) {
      expect(stdout).not.toContain(c.refreshToken);
      expect(stdout).not.toContain(c.accessToken);
    }
  }, 120_000);
});
