import type { AnyEvent, EventOf } from "@syncwell/contracts";
import { uuidv7 } from "@syncwell/contracts";
import type { TokenCipher } from "@syncwell/credentials";
import { databaseNow, findJobRun, startJobRun } from "@syncwell/db";
import { createSimulator, type Simulator, SimulatorControl } from "@syncwell/provider-simulator";
import { createTestDatabase, type TestDatabase, waitFor } from "@syncwell/testing";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ProviderId } from "../config.ts";
import { cipherFor, randomKey } from "../testing/fixtures.ts";
import {
  type CapturedLogger,
  captureLogger,
  connectionState,
  outboxEvents,
  type SeededConnection,
  seedConnections,
  simulatorProviders,
  testEngine,
} from "../testing/refresh-support.ts";
import type { RefreshEngine } from "./refresh-engine.ts";

let db: TestDatabase;
let sim: Simulator;
let control: SimulatorControl;
let cipher: TokenCipher;
let log: CapturedLogger;
let engine: RefreshEngine;

beforeAll(async () => {
  db = await createTestDatabase({ poolMax: 10 });
  sim = await createSimulator();
  control = new SimulatorControl(sim.url);
  cipher = cipherFor({ k1: randomKey() }, "k1");
});

afterAll(async () => {
  await sim?.close();
  await db?.drop();
});

beforeEach(async () => {
  await control.reset();
  await db.pool.query("TRUNCATE connections, users, outbox_events, job_runs CASCADE");
  log = captureLogger();
  engine = testEngine({ pool: db.pool, cipher, providers: simulatorProviders(sim.url), logger: log.logger });
});

/** One run, as a tick would start it: attempts only what was not attempted since "now". */
async function run(target: RefreshEngine = engine, jobRunId?: string) {
  return target.runBatch({ jobRunId, attemptedBefore: await databaseNow(db.pool, "down") });
}

/** Lets a failed connection be retried right away (as if its retry time had come). */
async function retryNow(id: string): Promise<void> {
  await db.pool.query("UPDATE connections SET next_retry_at = now() - interval '1 second' WHERE id = $1", [
    id,
  ]);
}

async function seed(
  provider: ProviderId,
  count = 1,
  extra: Parameters<typeof seedConnections>[3] extends infer S ? Partial<S> : never = {},
) {
  return seedConnections(db.pool, cipher, sim, { provider, count, ...extra });
}

function eventsOf<T extends AnyEvent["type"]>(
  events: AnyEvent[],
  type: T,
  connectionId?: string,
): EventOf<T>[] {
  return events.filter(
    (e): e is EventOf<T> =>
      e.type === type &&
      (connectionId === undefined || (e.data as { connectionId?: string }).connectionId === connectionId),
  );
}

describe("a refresh run", () => {
  it("refreshes due connections of every provider, stores rotated tokens and reports the job run", async () => {
    const jobRunId = uuidv7();
    await startJobRun(db.pool, { id: jobRunId, schedule: "token-refresh", slot: new Date() });
    const due = [
      ...(await seed("google", 3)),
      ...(await seed("spotify", 3)),
      ...(await seed("github-app", 2)),
      ...(await seed("discord", 2)),
      ...(await seed("linkedin", 2)),
      ...(await seed("slack", 2)),
    ];
    const later = await seed("google", 2, { expiresInMs: 60 * 60_000 });
    const never = await seed("github", 2, { tokenExpiresNever: true });

    const result = await run(engine, jobRunId);
    expect(result.counts).toEqual({ checked: 14, refreshed: 14, failed: 0, skipped: 0 });

    const grants = new Map((await control.grants()).map((g) => [g.connectionKey, g]));
    for (const c of due) {
      const row = await connectionState(db.pool, c.id);
      const grant = grants.get(c.id);
      expect(row.status).toBe("connected");
      expect(row.refresh_claimed_by).toBeNull();
      expect(row.access_token_expires_at?.getTime()).toBeGreaterThan(Date.now() + 30 * 60_000);
      // Whatever the provider rotated to is what we hold now (and the old one is never stored).
      expect(cipher.decrypt(row.refresh_token_encrypted)).toBe(grant?.refreshToken);
      expect(cipher.decrypt(row.access_token_encrypted)).not.toBe(c.accessToken);
    }
    for (const c of [...later, ...never]) {
      expect((await control.requests({ connectionKey: c.id })).length).toBe(0);
    }

    const refreshed = eventsOf(await outboxEvents(db.pool), "token.refreshed");
    expect(refreshed.map((e) => e.data.connectionId).sort()).toEqual(due.map((c) => c.id).sort());
    const spotify = refreshed.find((e) => e.data.provider === "spotify");
    const google = refreshed.find((e) => e.data.provider === "google");
    expect(spotify?.data).toMatchObject({
      refreshTokenRotated: true,
      recovered: false,
      previousStatus: "connected",
      jobRunId,
    });
    expect(google?.data.refreshTokenRotated).toBe(false);
    expect((await findJobRun(db.pool, jobRunId))?.counts).toEqual({
      checked: 14,
      refreshed: 14,
      failed: 0,
      skipped: 0,
    });
  });

  it("keeps the old refresh token when a response carries none", async () => {
    const [c] = (await seed("spotify")) as [SeededConnection];
    await control.addFault({ connectionKey: c.id, fault: { kind: "no_refresh_token" } });
    await run();
    const row = await connectionState(db.pool, c.id);
    expect(cipher.decrypt(row.refresh_token_encrypted)).toBe(c.refreshToken);
    expect(row.access_token_expires_at?.getTime()).toBeGreaterThan(Date.now() + 30 * 60_000);
    const [event] = eventsOf(await outboxEvents(db.pool), "token.refreshed", c.id);
    expect(event?.data.refreshTokenRotated).toBe(false);

    // The kept token still works: the next refresh rotates it.
    await db.pool.query("UPDATE connections SET access_token_expires_at = now() WHERE id = $1", [c.id]);
    await run();
    const after = await connectionState(db.pool, c.id);
    expect(cipher.decrypt(after.refresh_token_encrypted)).not.toBe(c.refreshToken);
    expect(
      (await control.requests({ connectionKey: c.id })).every(
        (r) => r.status === 200 && !r.reusedRefreshToken,
      ),
    ).toBe(true);
  });

  it("refreshes idle refresh tokens and skips tokens that never expire", async () => {
    const [idle] = (await seed("linkedin", 1, {
      expiresInMs: 30 * 24 * 60 * 60_000,
      refreshTokenIdleMs: 25 * 60 * 60_000,
    })) as [SeededConnection];
    const [recent] = (await seed("linkedin", 1, {
      expiresInMs: 30 * 24 * 60 * 60_000,
      refreshTokenIdleMs: 60 * 60_000,
    })) as [SeededConnection];
    await seed("github", 1, { tokenExpiresNever: true, refreshTokenIdleMs: 48 * 60 * 60_000 });
    const result = await run();
    expect(result.counts.refreshed).toBe(1);
    expect((await control.requests({ connectionKey: idle.id })).length).toBe(1);
    expect((await control.requests({ connectionKey: recent.id })).length).toBe(0);
    expect((await control.requests({ provider: "github" })).length).toBe(0);
  });
});

describe("on-demand refresh (token.refresh-requested)", () => {
  it("refreshes one connection ahead of its expiry, once per interval", async () => {
    const [c] = (await seed("github-app", 1, {
      expiresInMs: 4 * 60 * 60_000,
      refreshTokenIdleMs: 60 * 60_000,
    })) as [SeededConnection];
    expect(await engine.refreshOne(c.id)).toBe("refreshed");
    expect(await engine.refreshOne(c.id)).toBe("not_claimed");
    expect(await engine.refreshOne(c.id, 0)).toBe("refreshed");
    const requests = await control.requests({ connectionKey: c.id });
    expect(requests.map((r) => [r.status, r.reusedRefreshToken])).toEqual([
      [200, false],
      [200, false],
    ]);
    const events = eventsOf(await outboxEvents(db.pool), "token.refreshed", c.id);
    expect(events).toHaveLength(2);
    expect(events[0]?.data.jobRunId).toBeUndefined();
  });
  it("gives back its slot and its claim when the rate limiter fails", async () => {
    const [c] = (await seed("spotify", 1, { expiresInMs: 4 * 60 * 60_000 })) as [SeededConnection];
    let failNext = true;
    const oneSlot = testEngine({
      pool: db.pool,
      cipher,
      providers: simulatorProviders(sim.url, {}, 1),
      logger: log.logger,
      limiter: {
        take: async (_provider, n) => {
          if (!failNext) return n;
          failNext = false;
          throw new Error("rate limit store unreachable");
        },
      },
    });
    await expect(oneSlot.refreshOne(c.id, 0)).rejects.toThrow("rate limit store unreachable");
    expect((await connectionState(db.pool, c.id)).refresh_claimed_by).toBeNull();
    expect(oneSlot.heldClaims).toBe(0);
    // The provider's only slot is free again: the next request goes through.
    expect(await oneSlot.refreshOne(c.id, 0)).toBe("refreshed");
    await oneSlot.stop();
  });
});

describe("answers that arrive late", () => {
  it("waits for an answer past the send timeout and stores the rotated token (no reuse on the next run)", async () => {
    const connections = await seed("spotify", 10);
    const slow = connections.slice(0, 3);
    for (const c of slow) {
      await control.addFault({ connectionKey: c.id, fault: { kind: "late_answer", ms: 1_200 } });
    }
    const patient = testEngine({
      pool: db.pool,
      cipher,
      providers: simulatorProviders(sim.url),
      logger: log.logger,
      settings: { sendTimeoutMs: 300, answerTimeoutMs: 5_000 },
    });
    const first = await run(patient);
    expect(first.counts).toMatchObject({ refreshed: 10, failed: 0 });
    // Everything due again: a run that kept an old token would present it now.
    await db.pool.query("UPDATE connections SET access_token_expires_at = now()");
    const second = await run(patient);
    expect(second.counts).toMatchObject({ refreshed: 10, failed: 0 });
    expect((await control.stats()).reusedRefreshTokens).toBe(0);
    for (const c of connections) expect((await connectionState(db.pool, c.id)).status).toBe("connected");
    await patient.stop();
  });

  it("records rotation_lost when an answer was lost and the grant is then refused", async () => {
    const [c] = (await seed("spotify")) as [SeededConnection];
    await control.addFault({ connectionKey: c.id, fault: { kind: "drop_after_rotate" } });
    await run();
    const after = await connectionState(db.pool, c.id);
    expect(after).toMatchObject({
      status: "connected",
      last_error_code: "network",
      consecutive_transient_failures: 1,
    });
    await retryNow(c.id);
    await run();
    const lost = await connectionState(db.pool, c.id);
    expect(lost).toMatchObject({ status: "needs_reauth", last_error_code: "rotation_lost" });
    const failed = eventsOf(await outboxEvents(db.pool), "token.failed", c.id);
    expect(failed.map((e) => e.data.errorCode)).toEqual(["network", "rotation_lost"]);
    expect(log.text()).toContain("rotation_lost");
  });

  it("keeps invalid_grant for a grant refused without an earlier lost answer", async () => {
    const [c] = (await seed("spotify")) as [SeededConnection];
    await control.addFault({
      connectionKey: c.id,
      fault: { kind: "status", status: 400, error: "invalid_grant" },
    });
    await run();
    expect(await connectionState(db.pool, c.id)).toMatchObject({
      status: "needs_reauth",
      last_error_code: "invalid_grant",
    });
  });
});

describe("failures", () => {
  it("climbs the escalation ladder: warning at the 2nd failure, needs_reauth at the 3rd", async () => {
    const [c] = (await seed("google")) as [SeededConnection];
    await control.addFault({
      connectionKey: c.id,
      fault: { kind: "status", status: 400, error: "invalid_request", errorDescription: "Bad request." },
      times: 3,
    });
    const statuses: string[] = [];
    for (let i = 0; i < 3; i++) {
      await run();
      statuses.push((await connectionState(db.pool, c.id)).status);
      await retryNow(c.id);
    }
    expect(statuses).toEqual(["connected", "warning", "needs_reauth"]);
    const failed = eventsOf(await outboxEvents(db.pool), "token.failed", c.id);
    expect(failed.map((e) => [e.data.status, e.data.consecutiveFailures, e.data.classification])).toEqual([
      ["connected", 1, "permanent"],
      ["warning", 2, "permanent"],
      ["needs_reauth", 3, "permanent"],
    ]);
    expect(failed[2]?.data).toMatchObject({
      previousStatus: "warning",
      retryAt: null,
      errorCode: "invalid_request",
    });
    // needs_reauth is not refreshed any more.
    await run();
    expect((await control.requests({ connectionKey: c.id })).length).toBe(3);
  });

  it("asks for reauthorization at once on invalid_grant", async () => {
    const [c] = (await seed("spotify")) as [SeededConnection];
    await control.revoke({ connectionKey: c.id });
    await run();
    const row = await connectionState(db.pool, c.id);
    expect(row).toMatchObject({
      status: "needs_reauth",
      consecutive_failures: 1,
      last_error_code: "invalid_grant",
    });
    expect(row.next_retry_at).toBeNull();
    const [event] = eventsOf(await outboxEvents(db.pool), "token.failed", c.id);
    expect(event?.data).toMatchObject({
      classification: "permanent",
      errorCode: "invalid_grant",
      status: "needs_reauth",
      previousStatus: "connected",
      consecutiveFailures: 1,
      consecutiveTransientFailures: 0,
      retryAt: null,
    });
  });

  it("never disconnects on transient failures: rate_limited at the 5th, then a recovery", async () => {
    const [c] = (await seed("discord")) as [SeededConnection];
    await control.addFault({ connectionKey: c.id, fault: { kind: "status", status: 503 }, times: 5 });
    const statuses: string[] = [];
    for (let i = 0; i < 5; i++) {
      await run();
      statuses.push((await connectionState(db.pool, c.id)).status);
      await retryNow(c.id);
    }
    expect(statuses).toEqual(["connected", "warning", "warning", "warning", "rate_limited"]);
    const failed = eventsOf(await outboxEvents(db.pool), "token.failed", c.id);
    expect(failed[4]?.data).toMatchObject({
      classification: "transient",
      errorCode: "temporarily_unavailable",
      status: "rate_limited",
      previousStatus: "warning",
      consecutiveFailures: 5,
      consecutiveTransientFailures: 5,
    });
    expect(failed[4]?.data.retryAt).not.toBeNull();

    await run();
    const row = await connectionState(db.pool, c.id);
    expect(row).toMatchObject({
      status: "connected",
      consecutive_failures: 0,
      consecutive_transient_failures: 0,
    });
    const [recovered] = eventsOf(await outboxEvents(db.pool), "token.refreshed", c.id);
    expect(recovered?.data).toMatchObject({ recovered: true, previousStatus: "rate_limited" });
  });

  it("respects Retry-After: the connection is not retried before it", async () => {
    const [c] = (await seed("slack")) as [SeededConnection];
    await control.addFault({ connectionKey: c.id, fault: { kind: "status", status: 503, retryAfter: 120 } });
    const before = Date.now();
    await run();
    const row = await connectionState(db.pool, c.id);
    expect(row.status).toBe("connected");
    expect(row.next_retry_at?.getTime()).toBeGreaterThanOrEqual(before + 120_000);
    const [event] = eventsOf(await outboxEvents(db.pool), "token.failed", c.id);
    expect(Date.parse(event?.data.retryAt ?? "")).toBe(row.next_retry_at?.getTime());

    // Further runs before that time leave it alone…
    await run();
    await run();
    expect((await control.requests({ connectionKey: c.id })).length).toBe(1);
    // …and the first run after it refreshes it.
    await retryNow(c.id);
    await run();
    expect((await control.requests({ connectionKey: c.id })).map((r) => r.status)).toEqual([503, 200]);
    expect((await connectionState(db.pool, c.id)).status).toBe("connected");
  });

  it("serves healthy connections before ones that keep failing", async () => {
    const serial = testEngine({
      pool: db.pool,
      cipher,
      providers: simulatorProviders(sim.url, {}, 1),
      logger: log.logger,
    });
    const failing = await seed("google", 3, { consecutiveFailures: 2, expiresInMs: -60_000 });
    const healthy = await seed("google", 3, { expiresInMs: 5 * 60_000 });
    await run(serial);
    const order = (await control.requests({ provider: "google" })).map((r) => r.connectionKey);
    expect(order.slice(0, 3).sort()).toEqual(healthy.map((c) => c.id).sort());
    expect(order.slice(3).sort()).toEqual(failing.map((c) => c.id).sort());
  });
});

describe("operator misconfiguration", () => {
  it("alerts the operator, leaves users untouched and holds the provider until its configuration changes", async () => {
    const wrong = testEngine({
      pool: db.pool,
      cipher,
      providers: simulatorProviders(sim.url, { PROVIDER_GOOGLE_CLIENT_SECRET: "not-the-secret" }),
      logger: log.logger,
    });
    const google = await seed("google", 4, { consecutiveTransientFailures: 1, status: "connected" });
    const spotify = await seed("spotify", 2);
    const before = await Promise.all(google.map((c) => connectionState(db.pool, c.id)));

    const first = await run(wrong);
    expect(first.counts.refreshed).toBe(2);
    // Other providers carry on.
    for (const c of spotify) expect((await connectionState(db.pool, c.id)).status).toBe("connected");
    expect((await control.requests({ provider: "spotify" })).every((r) => r.status === 200)).toBe(true);
    const googleRequests = (await control.requests({ provider: "google" })).length;
    expect(googleRequests).toBeGreaterThanOrEqual(1);
    expect((await control.requests({ provider: "google" })).every((r) => r.error === "invalid_client")).toBe(
      true,
    );

    for (const [i, c] of google.entries()) {
      const row = await connectionState(db.pool, c.id);
      const was = before[i];
      expect(row).toMatchObject({
        status: "connected",
        consecutive_failures: 0,
        consecutive_transient_failures: 1,
        refresh_claimed_by: null,
        next_retry_at: null,
        access_token_encrypted: was?.access_token_encrypted,
        refresh_token_encrypted: was?.refresh_token_encrypted,
      });
    }
    const events = await outboxEvents(db.pool);
    const alerts = eventsOf(events, "operator.alert");
    expect(alerts).toHaveLength(1);
    expect(alerts[0]?.data).toMatchObject({
      severity: "critical",
      code: "provider_misconfigured",
      provider: "google",
      details: { errorCode: "invalid_client", httpStatus: 401 },
    });
    expect(JSON.stringify(alerts)).not.toContain("not-the-secret");
    for (const e of eventsOf(events, "token.failed")) {
      expect(e.data).toMatchObject({
        classification: "operator",
        status: "connected",
        previousStatus: "connected",
      });
    }
    expect(log.lines().some((l) => l.level === "error" && String(l.msg).startsWith("operator alert"))).toBe(
      true,
    );
    expect(wrong.holds.list().map((h) => h.provider)).toEqual(["google"]);

    // Held: the next run does not call Google at all (and counts its due connections as skipped).
    await run(wrong);
    expect((await control.requests({ provider: "google" })).length).toBe(googleRequests);
    expect(wrong.inactiveProviders().map((p) => p.id)).toContain("google");

    // A replica started with the corrected configuration is not held.
    await run(engine);
    for (const c of google) expect((await connectionState(db.pool, c.id)).last_refreshed_at).not.toBeNull();
  });
});

describe("single flight", () => {
  it("does not store a result when the connection's tokens were replaced during the request", async () => {
    const [c] = (await seed("spotify")) as [SeededConnection];
    const slow = await control.addFault({
      connectionKey: c.id,
      fault: { kind: "latency", ms: 400 },
      times: 1,
    });
    const running = run();
    // The simulator takes a fault (here its only use) when the request arrives: from then on the
    // request is in flight, held for 400 ms.
    await waitFor(
      async () => !(await control.faults()).some((f) => f.id === slow.id),
      "the refresh request to reach the provider",
    );
    // The user reconnects meanwhile (what the connections API does): new tokens, same row.
    const reconnected = "AQ-user-reconnected-refresh-token";
    await db.pool.query("UPDATE connections SET refresh_token_encrypted = $2 WHERE id = $1", [
      c.id,
      cipher.encrypt(reconnected),
    ]);
    const result = await running;
    expect(result.counts).toMatchObject({ refreshed: 0, skipped: 1 });
    const row = await connectionState(db.pool, c.id);
    expect(cipher.decrypt(row.refresh_token_encrypted)).toBe(reconnected);
    expect(row.refresh_claimed_by).toBeNull();
    expect(eventsOf(await outboxEvents(db.pool), "token.refreshed")).toHaveLength(0);
  });

  it("lets two replicas split rotating connections so each is refreshed exactly once", async () => {
    const a = testEngine({
      pool: db.pool,
      cipher,
      providers: simulatorProviders(sim.url, {}, 8),
      logger: log.logger,
    });
    const b = testEngine({
      pool: db.pool,
      cipher,
      providers: simulatorProviders(sim.url, {}, 8),
      logger: log.logger,
    });
    await control.setLatency({ ms: 5, jitterMs: 5 });
    const seeded = [...(await seed("spotify", 60)), ...(await seed("slack", 60))];
    const attemptedBefore = await databaseNow(db.pool, "down");
    const [ra, rb] = await Promise.all([a.runBatch({ attemptedBefore }), b.runBatch({ attemptedBefore })]);
    expect(ra.counts.refreshed + rb.counts.refreshed).toBe(120);
    expect(ra.counts.refreshed).toBeGreaterThan(0);
    expect(rb.counts.refreshed).toBeGreaterThan(0);
    const requests = await control.requests();
    expect(requests).toHaveLength(120);
    expect(new Set(requests.map((r) => r.connectionKey)).size).toBe(120);
    expect(requests.every((r) => r.status === 200 && !r.reusedRefreshToken)).toBe(true);
    expect(seeded).toHaveLength(120);
  });
});

describe("secrets", () => {
  it("never puts a token in logs or events, even when a provider quotes one", async () => {
    const seeded = [...(await seed("spotify", 3)), ...(await seed("google", 3))];
    const [quoted, failing] = seeded as [SeededConnection, SeededConnection];
    await control.addFault({
      connectionKey: quoted.id,
      fault: {
        kind: "status",
        status: 400,
        error: "invalid_grant",
        errorDescription: `refresh token ${quoted.refreshToken} was revoked; refresh_token=${quoted.refreshToken}`,
      },
    });
    await control.addFault({ connectionKey: failing.id, fault: { kind: "status", status: 503 } });
    const wrong = testEngine({
      pool: db.pool,
      cipher,
      providers: simulatorProviders(sim.url, { PROVIDER_GOOGLE_CLIENT_SECRET: "s3cr3t-client-value" }),
      logger: log.logger,
    });
    await run(wrong);
    await run(engine);

    const { rows } = await db.pool.query<{ access_token_encrypted: string; refresh_token_encrypted: string }>(
      "SELECT access_token_encrypted, refresh_token_encrypted FROM connections",
    );
    const secrets = new Set<string>(["s3cr3t-client-value", "sim-spotify-secret", "sim-google-secret"]);
    for (const c of seeded) {
      secrets.add(c.refreshToken);
      secrets.add(c.accessToken);
    }
    for (const r of rows) {
      secrets.add(cipher.decrypt(r.access_token_encrypted));
      secrets.add(cipher.decrypt(r.refresh_token_encrypted));
    }
    const events = JSON.stringify(await outboxEvents(db.pool));
    const logs = log.text();
    expect(logs.length).toBeGreaterThan(0);
    for (const secret of secrets) {
      expect(events).not.toContain(secret);
      expect(logs).not.toContain(secret);
    }
    const [revoked] = eventsOf(await outboxEvents(db.pool), "token.failed", quoted.id);
    expect(revoked?.data.errorDescription).toBe(
      "refresh token [redacted] was revoked; refresh_token=[redacted]",
    );
  });
});
