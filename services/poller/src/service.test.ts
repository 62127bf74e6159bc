// The poller as a service (runService with its consumers) on real NATS and Postgres: a tick polls
// and finishes its job run, data.ingested reaches the bus, token events pause / delay / resume
// polling, two replicas share one tick, and bad configuration names the variable.
import { randomBytes } from "node:crypto";
import { connect, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { type AnyEvent, createEvent } from "@syncwell/contracts";
import { findJobRun } from "@syncwell/db";
import { ConfigError, loadConfig } from "@syncwell/runtime";
import { type RunningServiceOf, runService } from "@syncwell/service";
import {
  createTestDatabase,
  createTestNats,
  needsReauthEvent,
  publishTick,
  type TestDatabase,
  type TestNats,
  testServiceOptions,
  waitFor,
} from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Connector } from "./adapters/connectors/connector.ts";
import { type Config, pollerConfigSchema } from "./config.ts";
import { pollerService } from "./service.ts";
import { FakePlatform, fakeConnector, items } from "./testing/fake-platform.ts";
import { createConnection, createUser, syncState, TEST_KEYS, testCipher } from "./testing/fixtures.ts";

// Every wait in this file allows the services 20 s.
const patience = { timeoutMs: 20_000 };

describe("configuration", () => {
  const base = { DATABASE_URL: "postgresql://postgres@127.0.0.1:5432/x", TOKEN_ENCRYPTION_KEYS: TEST_KEYS };

  it("names the bad variable and never prints key material", () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{ TOKEN_ENCRYPTION_CURRENT_KEY: "k9" }, "TOKEN_ENCRYPTION_CURRENT_KEY"],
      [{ TOKEN_ENCRYPTION_CURRENT_KEY: "k1", TOKEN_ENCRYPTION_KEYS: "k1:short" }, "TOKEN_ENCRYPTION_KEYS"],
      [{ TOKEN_ENCRYPTION_CURRENT_KEY: "k1", POLL_INTERVALS: "gmail.messages" }, "POLL_INTERVALS"],
      [{ TOKEN_ENCRYPTION_CURRENT_KEY: "k1", POLL_INTERVAL: "soon" }, "POLL_INTERVAL"],
      [
        { TOKEN_ENCRYPTION_CURRENT_KEY: "k1", PLATFORM_GMAIL_RATE_LIMIT_PER_SEC: "-1" },
        "PLATFORM_GMAIL_RATE_LIMIT_PER_SEC",
      ],
      [
        { TOKEN_ENCRYPTION_CURRENT_KEY: "k1", POLL_CLAIM_LEASE: "10s", POLL_REQUEST_TIMEOUT: "15s" },
        "POLL_CLAIM_LEASE",
      ],
    ];
    for (const [env, variable] of cases) {
      let error: unknown;
      try {
        loadConfig(pollerConfigSchema, { ...base, ...env });
      } catch (err) {
        error = err;
      }
      expect(error, variable).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).issues.map((i) => i.variable)).toEqual([variable]);
      expect((error as ConfigError).message).not.toContain(TEST_KEYS.slice(3));
    }
  });

  it("reads poll settings and per-platform overrides", () => {
    const config = loadConfig(pollerConfigSchema, {
      ...base,
      TOKEN_ENCRYPTION_CURRENT_KEY: "k1",
      POLL_INTERVAL: "20m",
      POLL_INTERVALS: "gmail.messages=15m,github=10m",
      PLATFORM_GMAIL_API_URL: "http://127.0.0.1:4010/gmail",
      PLATFORM_GMAIL_RATE_LIMIT_PER_SEC: "2.5",
    }) as Config;
    expect(config.POLL_INTERVAL).toBe(1_200_000);
    expect(config.POLL_INTERVALS.get("github")).toBe(600_000);
    expect(config.POLL_TOKEN_MIN_VALIDITY).toBe(120_000);
    expect(config.POLL_CONCURRENCY).toBe(64);
    expect((config as Record<string, unknown>).PLATFORM_GMAIL_RATE_LIMIT_PER_SEC).toBe(2.5);
  });
});

describe("the service", () => {
  let db: TestDatabase;
  let nats: TestNats;
  let platform: FakePlatform;
  let name: string;
  let nc: NatsConnection;
  const received: AnyEvent[] = [];
  let subscription: Subscription;
  const services: RunningServiceOf<ReturnType<typeof pollerService>>[] = [];
  /** Which replica polled each connection (each replica gets its own connector instance). */
  const polledBy = new Map<string, string[]>();

  function taggedConnector(tag: string): Connector {
    const base = fakeConnector({
      platform: name,
      provider: "github",
      baseUrl: platform.url,
      requiredScopes: [name],
    });
    const resource = base.resources[0];
    if (!resource) throw new Error("no resource");
    return {
      ...base,
      resources: [
        {
          ...resource,
          fetchPage: (ctx, position) => {
            polledBy.set(ctx.connection.id, [...(polledBy.get(ctx.connection.id) ?? []), tag]);
            return resource.fetchPage(ctx, position);
          },
        },
      ],
    };
  }

  const replicaEnv = { POLL_BATCH_SIZE: "4", POLL_PLATFORM_CONCURRENCY: "4" };

  async function start(tag: string, env: Record<string, string> = {}) {
    const service = await runService(
      pollerService([taggedConnector(tag)]),
      await testServiceOptions(db, nats, {
        TOKEN_ENCRYPTION_KEYS: TEST_KEYS,
        TOKEN_ENCRYPTION_CURRENT_KEY: "k1",
        ...env,
      }),
    );
    services.push(service);
    return service;
  }

  async function connection(token: string, count = 3): Promise<{ id: string; userId: string }> {
    platform.setItems(token, items("s", count));
    const userId = await createUser(db.pool);
    const id = await createConnection(db.pool, testCipher(), {
      userId,
      provider: "github",
      accessToken: token,
      scopes: [name],
    });
    return { id, userId };
  }

  function tick(service: RunningServiceOf<ReturnType<typeof pollerService>>): Promise<string> {
    // A slot of its own per tick (two ticks in one second are two runs).
    const slot = new Date(Math.floor(Date.now() / 1000) * 1000 + Math.floor(Math.random() * 1000));
    return publishTick({ db: db.pool, bus: service.bus }, "poll", { slot });
  }

  function eventsOf(type: string, connectionId: string): AnyEvent[] {
    return received.filter(
      (e) => e.type === type && (e.data as { connectionId?: string }).connectionId === connectionId,
    );
  }

  beforeAll(async () => {
    db = await createTestDatabase({ poolMax: 10 });
    nats = createTestNats("poller");
    platform = await new FakePlatform("svc").start();
    name = `svc${randomBytes(3).toString("hex")}`;
    nc = await connect({ servers: nats.url });
    subscription = nc.subscribe(`${nats.prefix}.>`, {
      callback: (_err, msg) => {
        try {
          const event = msg.json<AnyEvent>();
          if (event && typeof event === "object" && "type" in event) received.push(event);
        } catch {
          // not an event (a wake-up of the replicas)
        }
      },
    });
    await nc.flush();
    // Small batches and few polls per replica, so that two replicas both get a share of one tick.
    await start("r1", replicaEnv);
  });

  afterAll(async () => {
    for (const service of services) await service.stop("test done");
    subscription?.unsubscribe();
    await nc?.close();
    await platform?.close();
    await nats?.cleanup();
    await db?.drop();
  });

  it("polls on tick.poll, publishes data.ingested and finishes the job run with its counts", async () => {
    const [service] = services;
    if (!service) throw new Error("no service");
    const a = await connection(`tok-${randomBytes(6).toString("hex")}`, 3);
    const b = await connection(`tok-${randomBytes(6).toString("hex")}`, 4);
    const unauthorizedToken = `tok-${randomBytes(6).toString("hex")}`;
    const c = await connection(unauthorizedToken, 1);
    platform.addFault({ token: unauthorizedToken, status: 401 });

    const jobRunId = await tick(service);
    const run = await waitFor(
      async () => {
        const found = await findJobRun(db.pool, jobRunId);
        return found?.status !== "running" ? found : undefined;
      },
      "the job run to finish",
      patience,
    );
    expect(run?.status).toBe("succeeded");
    expect(run?.counts).toMatchObject({
      connections: 3,
      polled: 2,
      failed: 0,
      skipped: 1,
      records_added: 7,
      records_updated: 0,
    });

    const ingested = await waitFor(
      () =>
        eventsOf("data.ingested", a.id).length + eventsOf("data.ingested", b.id).length === 2
          ? received
          : undefined,
      "data.ingested on NATS",
      patience,
    );
    expect(
      ingested.find(
        (e) => e.type === "data.ingested" && (e.data as { connectionId: string }).connectionId === b.id,
      )?.data,
    ).toMatchObject({
      userId: b.userId,
      counts: { added: 4, updated: 0, unchanged: 0, deleted: 0 },
      fullSync: true,
      jobRunId,
    });
    await waitFor(
      () => eventsOf("token.refresh-requested", c.id).length === 1,
      "token.refresh-requested on NATS",
      patience,
    );
    // The pages went through the page writer's own connections (generic plans, no sequential scans), which run
    // nothing but its transactions (the lock, the page statement, COMMIT).
    const writers = await db.pool.query<{ query: string }>(
      `SELECT query FROM pg_stat_activity
       WHERE datname = current_database() AND application_name = 'poller-page-writer'`,
    );
    expect(writers.rows.length).toBeGreaterThan(0);
    for (const { query } of writers.rows) expect(query).toMatch(/^(WITH pages AS|COMMIT$)/);
  });

  it("pauses on token.failed (needs_reauth), resumes and polls at once on token.refreshed", async () => {
    const [service] = services;
    if (!service) throw new Error("no service");
    const token = `tok-${randomBytes(6).toString("hex")}`;
    const a = await connection(token, 2);
    await tick(service);
    await waitFor(() => eventsOf("data.ingested", a.id).length === 1, "the first poll", patience);

    // The token service lost the grant: it sets the status, then publishes token.failed.
    await db.pool.query("UPDATE connections SET status = 'needs_reauth' WHERE id = $1", [a.id]);
    await service.bus.publish(needsReauthEvent({ connectionId: a.id, userId: a.userId, provider: "github" }));
    await waitFor(
      async () => (await syncState(db.pool, a.id, name))?.status === "paused",
      "the pause",
      patience,
    );
    expect(await syncState(db.pool, a.id, name)).toMatchObject({ paused_reason: "token_needs_reauth" });

    // Nothing is polled while paused, even when due.
    platform.setItems(token, items("s", 1, 10));
    await db.pool.query("UPDATE sync_states SET next_poll_at = now() WHERE connection_id = $1", [a.id]);
    const before = platform.requestsFor(token).length;
    const jobRunId = await tick(service);
    await waitFor(
      async () => (await findJobRun(db.pool, jobRunId))?.status !== "running",
      "the paused tick",
      patience,
    );
    expect(platform.requestsFor(token).length).toBe(before);

    // The user reconnected: a recovered refresh resumes the resource and polls it right away.
    await db.pool.query(
      "UPDATE connections SET status = 'connected', access_token_expires_at = now() + interval '1 hour' WHERE id = $1",
      [a.id],
    );
    await service.bus.publish(
      createEvent(
        "token.refreshed",
        {
          connectionId: a.id,
          userId: a.userId,
          provider: "github",
          expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
          refreshTokenRotated: false,
          recovered: true,
          previousStatus: "needs_reauth",
        },
        { source: "test" },
      ),
    );
    await waitFor(
      () => eventsOf("data.ingested", a.id).length === 2,
      "the poll after token.refreshed",
      patience,
    );
    expect(eventsOf("data.ingested", a.id)[1]?.data).toMatchObject({ counts: { added: 1 }, fullSync: false });
    expect(await syncState(db.pool, a.id, name)).toMatchObject({ status: "active", paused_reason: null });
  });

  it("only delays polling after a transient token failure", async () => {
    const [service] = services;
    if (!service) throw new Error("no service");
    const a = await connection(`tok-${randomBytes(6).toString("hex")}`, 1);
    await tick(service);
    await waitFor(() => eventsOf("data.ingested", a.id).length === 1, "the first poll", patience);
    await db.pool.query("UPDATE sync_states SET next_poll_at = now() WHERE connection_id = $1", [a.id]);
    const retryAt = new Date(Date.now() + 5 * 60_000);
    await service.bus.publish(
      createEvent(
        "token.failed",
        {
          connectionId: a.id,
          userId: a.userId,
          provider: "github",
          classification: "transient",
          errorCode: "http_503",
          consecutiveFailures: 1,
          consecutiveTransientFailures: 1,
          previousStatus: "connected",
          status: "connected",
          retryAt: retryAt.toISOString(),
        },
        { source: "test" },
      ),
    );
    const state = await waitFor(
      async () => {
        const s = await syncState(db.pool, a.id, name);
        return s && s.next_poll_at.getTime() >= retryAt.getTime() - 1 ? s : undefined;
      },
      "the delay",
      patience,
    );
    expect(state.status).toBe("active");
  });

  it("two replicas share one tick", async () => {
    const [first] = services;
    if (!first) throw new Error("no service");
    await start("r2", replicaEnv);
    platform.latencyMs = 30;
    const conns = await Promise.all(
      Array.from({ length: 30 }, () => connection(`tok-${randomBytes(6).toString("hex")}`, 1)),
    );
    const jobRunId = await tick(first);
    const run = await waitFor(
      async () => {
        const found = await findJobRun(db.pool, jobRunId);
        return found?.status !== "running" && (found?.counts.polled ?? 0) >= 30 ? found : undefined;
      },
      "the shared run",
      patience,
    ).catch(async (err: Error) => {
      // What the run and the claims looked like when patience ran out (this wait failed once,
      // under load, and never again since).
      const found = await findJobRun(db.pool, jobRunId);
      const claims = await db.pool.query(
        "SELECT platform, claimed_by, claimed_until FROM sync_states WHERE claimed_until > now()",
      );
      const tags = conns.map((c) => polledBy.get(c.id) ?? []);
      throw new Error(
        `${err.message}: job run ${JSON.stringify({ status: found?.status, counts: found?.counts })}, ` +
          `claims held ${JSON.stringify(claims.rows)}, polls per connection ${JSON.stringify(tags)}`,
      );
    });
    expect(run?.counts).toMatchObject({ polled: 30, failed: 0 });
    const tags = conns.flatMap((c) => polledBy.get(c.id) ?? []);
    expect(tags).toHaveLength(30);
    expect(new Set(tags)).toEqual(new Set(["r1", "r2"]));
  });
});
