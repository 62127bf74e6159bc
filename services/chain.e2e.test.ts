/**
 * The chain, end to end (issue 15): the five services, each its own process started as the image
 * starts it (its bundle, built first, under the telemetry preload's bundle:
 * scripts/docker-entrypoint.sh), against the test's Postgres database and NATS prefix, the provider
 * simulator (in this process, for its clock) and an OTLP receiver in place of Jaeger. One user has a Google connection that refreshes and a Spotify connection whose
 * grant the user revoked, and a contact (created through the health scorer's API) they wrote to
 * three times three weeks ago without an answer. Triggered through the scheduler's API:
 *
 * - `token-refresh`: token.refreshed for Google, whose mail the poller fetches at once
 *   (data.ingested), the contact turns ghost (health.changed) → an in-app notification;
 *   token.failed (invalid_grant) for Spotify → an in-app "disconnected" notification and exactly
 *   one email at the simulator. The tick's one trace holds every hop, in all five services, down to
 *   the email's delivery.
 * - `poll`: the contact's answer arrives (data.ingested) → the contact is healthy again
 *   (health.changed) → the ghost notification is resolved, read through the notifier's API.
 *
 * A second scenario kills the notifier with SIGKILL while its email request is held at the
 * simulator, and starts another: still exactly one email (its idempotency key).
 */
import { randomBytes, randomUUID } from "node:crypto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { buildBundles, serviceBundle, TELEMETRY_PRELOAD_BUNDLE } from "@syncwell/dev/bundle";
import { createSimulator, type Simulator, SimulatorControl } from "@syncwell/provider-simulator";
import {
  createTestDatabase,
  createTestNats,
  freePort,
  type OtlpReceiver,
  type ReceivedSpan,
  type ServiceProcess,
  serviceProcessEnv,
  spawnService,
  startOtlpReceiver,
  type TestDatabase,
  waitFor,
} from "@syncwell/testing";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const names = ["scheduler", "token-service", "poller", "health-scorer", "notifier"] as const;
type Name = (typeof names)[number];

const DAY_MS = 24 * 60 * 60_000;
const GMAIL_SCOPE = "https://www.googleapis.com/auth/gmail.readonly";
const CONTACT = "ghosting.friend@example.org";
/** Throwaway secrets of this test's processes. */
const secrets = {
  scheduler: randomBytes(24).toString("hex"),
  tokenService: randomBytes(24).toString("hex"),
  health: randomBytes(24).toString("hex"),
  jwt: randomBytes(32).toString("hex"),
  encryption: `k1:${randomBytes(32).toString("base64")}`,
};
const AUDIENCE = "syncwell-chain-test";
/** The reconnect link the disconnected email must carry, its connection filled in. */
const RECONNECT_URL = "https://app.syncwell.test/connections/{connectionId}/reconnect";

const nats = createTestNats("chain");
let db: TestDatabase;
let otlp: OtlpReceiver;
let sim: Simulator;
let control: SimulatorControl;
let nc: NatsConnection;
/** Added to the simulator's clock: the mail of "three weeks ago" is written with it set back. */
let simClockOffsetMs = 0;
const services = new Map<Name, { process: ServiceProcess; url: string; port: number }>();
/** Every event the services published on the test's prefix, as envelopes. */
const events: { type: string; data: Record<string, unknown> }[] = [];

function envFor(name: Name): Record<string, string> {
  const simUrl = control.baseUrl;
  const common = {
    ...serviceProcessEnv({ databaseUrl: db.url, nats }),
    LOG_LEVEL: "info",
    ...otlp.env,
    OTEL_BSP_SCHEDULE_DELAY: "100",
  };
  switch (name) {
    case "scheduler":
      return {
        ...common,
        SCHEDULER_API_TOKEN: secrets.scheduler,
        // Only the test's triggers fire.
        SCHEDULE_TOKEN_REFRESH: "off",
        SCHEDULE_POLL: "off",
        SCHEDULE_HEALTH_SWEEP: "off",
        SCHEDULE_DAILY_USER_CHECK: "off",
        SCHEDULE_WEEKLY_DIGEST: "off",
        SCHEDULE_MANUAL_TRIGGER_INTERVAL: "1s",
      };
    case "token-service":
      return {
        ...common,
        TOKEN_SERVICE_API_TOKEN: secrets.tokenService,
        TOKEN_ENCRYPTION_KEYS: secrets.encryption,
        TOKEN_ENCRYPTION_CURRENT_KEY: "k1",
        PROVIDER_GOOGLE_CLIENT_ID: "sim-google-client",
        PROVIDER_GOOGLE_CLIENT_SECRET: "sim-google-secret",
        PROVIDER_GOOGLE_TOKEN_URL: control.tokenUrl("google"),
        PROVIDER_SPOTIFY_CLIENT_ID: "sim-spotify-client",
        PROVIDER_SPOTIFY_CLIENT_SECRET: "sim-spotify-secret",
        PROVIDER_SPOTIFY_TOKEN_URL: control.tokenUrl("spotify"),
      };
    case "poller":
      return {
        ...common,
        TOKEN_ENCRYPTION_KEYS: secrets.encryption,
        TOKEN_ENCRYPTION_CURRENT_KEY: "k1",
        PLATFORM_GMAIL_API_URL: `${simUrl}/gmail`,
        PLATFORM_SPOTIFY_API_URL: `${simUrl}/spotify`,
        // A connection polled a moment ago is due again at the next tick, and a tick's run polls
        // what is due then and ends (rather than polling it again each second).
        POLL_INTERVAL: "1s",
        POLL_RUN_HORIZON: "0s",
      };
    case "health-scorer":
      return {
        ...common,
        HEALTH_API_KEYS: secrets.health,
        // A contact with no mail yet is at_risk rather than critical: the only notification about
        // it is the one the polled mail causes.
        HEALTH_CONTACT_WEIGHTS: "ghostRisk=0.5",
      };
    case "notifier":
      return {
        ...common,
        NOTIFY_JWT_KEYS: `a:${secrets.jwt}`,
        NOTIFY_JWT_AUDIENCE: AUDIENCE,
        NOTIFY_HEALTH_EMAIL: "false",
        NOTIFY_RECONNECT_URL: RECONNECT_URL,
        EMAIL_FROM: "Syncwell <alerts@syncwell.test>",
        RESEND_API_KEY: "re_chain_test",
        RESEND_BASE_URL: control.emailApiUrl(),
        EMAIL_POLL_INTERVAL: "200ms",
        EMAIL_CLAIM_LEASE: "2s",
        EMAIL_BACKOFF_BASE: "500ms",
        EMAIL_BACKOFF_MAX: "2s",
        EMAIL_RATE_LIMIT_PER_SEC: "50",
      };
  }
}

async function startService(name: Name, port?: number): Promise<void> {
  const p = port ?? (await freePort());
  const child = spawnService(name, envFor(name), p, {
    inheritEnv: false,
    nodeArgs: ["--import", `./${TELEMETRY_PRELOAD_BUNDLE}`],
    entry: serviceBundle(name),
  });
  services.set(name, { process: child, url: `http://127.0.0.1:${p}`, port: p });
  await child.ready(45_000);
}

function service(name: Name) {
  const s = services.get(name);
  if (!s) throw new Error(`${name} is not running`);
  return s;
}

async function call(
  name: Name,
  method: string,
  path: string,
  bearer: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${service(name).url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${bearer}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** A user with one connection whose grant lives at the simulator under `connectionKey`. */
async function connectUser(
  user: { id: string; email: string },
  provider: "google" | "spotify",
  connectionKey: string,
  scopes: string[],
): Promise<string> {
  const grant = await control.createGrant({ provider, connectionKey, scopes });
  const res = await call("token-service", "POST", "/connections", secrets.tokenService, {
    userId: user.id,
    userEmail: user.email,
    provider,
    providerAccountId: connectionKey,
    scopes,
    accessToken: grant.accessToken,
    refreshToken: grant.refreshToken,
    // Within the refresh lead time: the next token-refresh tick takes it.
    expiresIn: 60,
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return String(res.body.id);
}

/** Fires a schedule by the scheduler's API; resolves to the trace id of the tick. */
async function trigger(schedule: string): Promise<string> {
  // A 429 only says the schedule was triggered less than SCHEDULE_MANUAL_TRIGGER_INTERVAL ago.
  const res = await waitFor(
    async () => {
      const r = await call("scheduler", "POST", `/schedules/${schedule}/trigger`, secrets.scheduler);
      return r.status === 429 ? undefined : r;
    },
    `${schedule} triggered`,
    { timeoutMs: 5_000, intervalMs: 250 },
  );
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  expect(res.body.traceId).toMatch(/^[0-9a-f]{32}$/);
  return String(res.body.traceId);
}

/** The first `type` event from `since` (an index into `events`) on that `match` accepts. */
async function eventFor(type: string, since: number, match: (data: Record<string, unknown>) => boolean) {
  const find = () => events.slice(since).find((e) => e.type === type && match(e.data));
  try {
    return await waitFor(find, `${type} on the bus`, {
      timeoutMs: 30_000,
    });
  } catch (err) {
    const seen = events
      .slice(since)
      .filter((e) => e.type === type)
      .map((e) => JSON.stringify(e.data));
    throw new Error(`${(err as Error).message}; ${type} seen:\n${seen.join("\n")}`);
  }
}

type Notification = {
  id: string;
  kind: string;
  subject: { type: string; id: string };
  title: string;
  resolvedAt: string | null;
};

async function notificationsOf(userId: string): Promise<Notification[]> {
  const token = await new SignJWT({ sub: userId })
    .setProtectedHeader({ alg: "HS256", kid: "a" })
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime("10m")
    .sign(new TextEncoder().encode(secrets.jwt));
  const res = await call("notifier", "GET", "/v1/notifications", token);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.items as Notification[];
}

function notificationOf(userId: string, kind: string): Promise<Notification> {
  return waitFor(
    async () => (await notificationsOf(userId)).find((n) => n.kind === kind),
    `a ${kind} notification`,
    { timeoutMs: 30_000, intervalMs: 200 },
  );
}

/** The spans of one trace, once `complete` holds for them (or all there are after 30 s). */
async function spansOf(
  traceId: string,
  complete: (spans: ReceivedSpan[]) => boolean,
): Promise<ReceivedSpan[]> {
  const inTrace = (all: ReceivedSpan[]) => all.filter((s) => s.traceId === traceId);
  const all = await otlp.waitForSpans((spans) => complete(inTrace(spans)), 30_000).catch(() => otlp.spans());
  return inTrace(all);
}

/** The trace's messaging spans, as "<service> <send|process> <subject without the prefix>". */
function hopsOf(spans: readonly ReceivedSpan[]): Set<string> {
  return new Set(
    spans
      .filter((s) => s.name.startsWith("send ") || s.name.startsWith("process "))
      .map((s) => `${s.serviceName} ${s.name.replace(`${nats.prefix}.`, "")}`),
  );
}

const user = { id: randomUUID(), email: `chain-${randomBytes(4).toString("hex")}@example.com` };
let googleId: string;
let spotifyId: string;

beforeAll(async () => {
  await buildBundles();
  db = await createTestDatabase();
  otlp = await startOtlpReceiver();
  // The generated mail lies before four weeks ago: what the test adds three weeks ago is newer.
  sim = await createSimulator({
    now: () => Date.now() + simClockOffsetMs,
    dataEpoch: Date.now() - 28 * DAY_MS,
  });
  control = new SimulatorControl(sim.url);
  nc = await connect({ servers: nats.url });
  nc.subscribe(`${nats.prefix}.>`, {
    callback: (_err, msg) => {
      try {
        const envelope = msg.json<{ type?: string; data?: Record<string, unknown> }>();
        if (typeof envelope.type === "string")
          events.push({ type: envelope.type, data: envelope.data ?? {} });
      } catch {
        // not an envelope
      }
    },
  });
  // Started one after another: five Node processes compiling at once on two cores time out.
  for (const name of names) await startService(name);
}, 120_000);

afterAll(async () => {
  for (const { process } of services.values()) process.process.kill("SIGKILL");
  await Promise.all([...services.values()].map((s) => s.process.exited));
  await nc?.close();
  await sim?.close();
  await otlp?.close();
  await nats.cleanup();
  await db?.drop();
});

describe("the chain from a tick to the user", () => {
  let contactId: string;

  it("token-refresh: refreshed → ingested → ghost → in-app; failed → disconnected + one email; one trace through all five", async () => {
    googleId = await connectUser(user, "google", "chain-google", [GMAIL_SCOPE]);
    spotifyId = await connectUser(user, "spotify", "chain-spotify", ["user-read-recently-played"]);
    // The user revoked Syncwell at Spotify: its refresh answers invalid_grant.
    await control.revoke({ connectionKey: "chain-spotify" });
    const created = await call("health-scorer", "POST", `/v1/users/${user.id}/contacts`, secrets.health, {
      email: `Ghosting Friend <${CONTACT}>`,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    contactId = String(created.body.id);
    await eventFor("health.changed", 0, (d) => d.subjectId === contactId && d.status === "at_risk");
    // Three weeks ago the user wrote to the contact three times; no answer came.
    simClockOffsetMs = -21 * DAY_MS;
    try {
      await control.addData("gmail", "messages", {
        connectionKey: "chain-google",
        items: [1, 2, 3].map((n) => ({ to: [CONTACT], subject: `Catching up, part ${n}` })),
      });
    } finally {
      simClockOffsetMs = 0;
    }

    const since = events.length;
    const traceId = await trigger("token-refresh");
    await eventFor("token.refreshed", since, (d) => d.connectionId === googleId);
    // The fresh token is polled at once.
    const ingested = await eventFor("data.ingested", since, (d) => d.connectionId === googleId);
    expect(ingested.data).toMatchObject({ userId: user.id, communicationEventsCreated: 3 });
    const changed = await eventFor("health.changed", since, (d) => d.subjectId === contactId);
    expect(changed.data).toMatchObject({
      subjectKind: "contact",
      status: "ghost",
      previousStatus: "at_risk",
    });
    const ghost = await notificationOf(user.id, "health_ghost");
    expect(ghost.subject).toEqual({ type: "contact", id: contactId });

    const failed = await eventFor("token.failed", since, (d) => d.connectionId === spotifyId);
    expect(failed.data).toMatchObject({ userId: user.id, provider: "spotify" });
    const disconnected = await notificationOf(user.id, "connection_disconnected");
    expect(disconnected.subject).toEqual({ type: "connection", id: spotifyId });
    const email = await waitFor(
      async () => (await control.emails({ to: user.email }))[0],
      "the disconnected email at the simulator",
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(email.from).toBe("Syncwell <alerts@syncwell.test>");
    expect(email.to).toEqual([user.email]);
    expect(email.subject).toMatch(/disconnected from Syncwell$/);
    const reconnect = RECONNECT_URL.replace("{connectionId}", spotifyId);
    expect(email.html).toContain(reconnect);
    expect(email.text).toContain(reconnect);
    expect(email.idempotencyKey).toMatch(/^[0-9a-f-]{36}$/);

    // One trace from the tick: the scheduler, the token service's refresh, the poller's prompt
    // poll, the scorer's rescoring, the notifier's notifications and the email's delivery.
    const chain = new Set([
      "scheduler send tick.token-refresh",
      "token-service process tick.token-refresh",
      "token-service send token.refreshed",
      "token-service send token.failed",
      "poller process token.refreshed",
      "poller process token.failed",
      "poller send data.ingested",
      "health-scorer process token.refreshed",
      "health-scorer process token.failed",
      "health-scorer process data.ingested",
      "health-scorer send health.changed",
      "notifier process token.refreshed",
      "notifier process token.failed",
      "notifier process health.changed",
      "notifier send notification.created",
      // The email worker's delivery, later and out of its own loop, joins the trace too.
      "notifier send notification.delivered",
    ]);
    const spans = await spansOf(traceId, (t) => hopsOf(t).size >= chain.size);
    expect(new Set(spans.map((s) => s.serviceName))).toEqual(new Set(names));
    expect(spans.filter((s) => s.name === "email deliver")).toHaveLength(1);
    // Every hop of the chain, each in the service that made it.
    expect(hopsOf(spans)).toEqual(chain);

    expect(await control.emails({ to: user.email })).toHaveLength(1);
  }, 90_000);

  it("poll: the contact's answer is ingested, the contact is healthy again, the ghost notification resolved, in the poll's trace", async () => {
    await control.addData("gmail", "messages", {
      connectionKey: "chain-google",
      items: [{ from: `Ghosting Friend <${CONTACT}>`, subject: "Sorry, I was away" }],
    });

    // Polled a moment ago, the mailbox is due again within POLL_INTERVAL: the tick finds it due.
    await waitFor(
      async () =>
        (
          await db.pool.query(
            `SELECT 1 FROM sync_states WHERE connection_id = $1 AND status = 'active' AND next_poll_at <= now()`,
            [googleId],
          )
        ).rows.length > 0,
      "the Gmail mailbox to be due",
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    const since = events.length;
    const traceId = await trigger("poll");
    const ingested = await eventFor("data.ingested", since, (d) => d.connectionId === googleId);
    expect(ingested.data).toMatchObject({ userId: user.id, communicationEventsCreated: 1 });
    const changed = await eventFor("health.changed", since, (d) => d.subjectId === contactId);
    expect(changed.data).toMatchObject({ status: "healthy", previousStatus: "ghost" });
    await waitFor(
      async () =>
        (await notificationsOf(user.id)).find((n) => n.kind === "health_ghost" && n.resolvedAt !== null),
      "the ghost notification resolved",
      { timeoutMs: 30_000, intervalMs: 200 },
    );

    const chain = new Set([
      "scheduler send tick.poll",
      "poller process tick.poll",
      "poller send data.ingested",
      "health-scorer process data.ingested",
      "health-scorer send health.changed",
      "notifier process health.changed",
    ]);
    const spans = await spansOf(traceId, (t) => hopsOf(t).size >= chain.size);
    expect(hopsOf(spans)).toEqual(chain);
  }, 90_000);

  it("a notifier killed while its email is held at the simulator: its successor sends nothing twice", async () => {
    const other = { id: randomUUID(), email: `chain-kill-${randomBytes(4).toString("hex")}@example.com` };
    const connectionId = await connectUser(other, "spotify", "chain-kill", ["user-read-recently-played"]);
    await control.revoke({ connectionKey: "chain-kill" });
    // The next email is answered after 5 s (and sent then, whether or not its client is still there).
    await control.addFault({ endpoint: "email", fault: { kind: "latency", ms: 5_000 }, times: 1 });

    const since = events.length;
    await trigger("token-refresh");
    await eventFor("token.failed", since, (d) => d.connectionId === connectionId);
    // The fault is taken when the notifier's request arrives: the send is in flight.
    await waitFor(async () => (await control.faults()).length === 0, "the email request at the simulator", {
      timeoutMs: 30_000,
      intervalMs: 20,
    });
    const notifier = service("notifier");
    notifier.process.process.kill("SIGKILL");
    expect((await notifier.process.exited).signal).toBe("SIGKILL");
    // Killed before the simulator sent the email: the send was in flight, its outcome unrecorded.
    expect(await control.emails({ to: other.email })).toHaveLength(0);

    await startService("notifier", notifier.port);
    // The successor takes the message over once the dead worker's lease ends, and sends it with
    // the same idempotency key: the simulator answers with the first email, sends no second.
    await waitFor(
      async () => {
        const rows = await db.pool.query<{ status: string }>(
          `SELECT m.status FROM notification_messages m JOIN notifications n ON n.id = m.notification_id
            WHERE n.user_id = $1 AND m.channel = 'email'`,
          [other.id],
        );
        return rows.rows.length === 1 && rows.rows[0]?.status === "sent";
      },
      "the email recorded as sent",
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(await control.emails({ to: other.email })).toHaveLength(1);
    // The successor did send it again, and only the key kept the simulator from sending twice.
    expect((await control.emailStats()).replayed).toBeGreaterThanOrEqual(1);
  }, 90_000);
});
