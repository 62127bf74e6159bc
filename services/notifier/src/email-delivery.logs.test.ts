// The notifier as its own process (as it runs in production, traced), sending to the provider
// simulator while Resend's answers quote the API key: the key never reaches its logs (at debug
// level), its spans, the delivery audit or the events; each delivery is in the trace of the event
// that caused it, which its log lines name; and a SIGTERM waits for the send in flight and records it.
import { randomUUID } from "node:crypto";
import type { Bus } from "@syncwell/bus";
import { createSimulator, type Simulator, SimulatorControl } from "@syncwell/provider-simulator";
import {
  createTestBus,
  createTestDatabase,
  createTestNats,
  freePort,
  needsReauthEvent,
  type OtlpReceiver,
  type ServiceProcess,
  serviceProcessEnv,
  spawnService,
  startOtlpReceiver,
  type TestDatabase,
  type TestNats,
  waitFor,
} from "@syncwell/testing";
import { afterAll, beforeAll, expect, it } from "vitest";

const API_KEY = "re_LogCheck_5e2b9f13c8a4";
const patience = { timeoutMs: 30_000 };

let db: TestDatabase;
let nats: TestNats;
let bus: Bus;
let sim: Simulator;
let control: SimulatorControl;
let receiver: OtlpReceiver;
let notifier: ServiceProcess | undefined;

beforeAll(async () => {
  db = await createTestDatabase();
  nats = createTestNats("notifier-keys");
  bus = await createTestBus(nats);
  sim = await createSimulator();
  control = new SimulatorControl(sim.url);
  receiver = await startOtlpReceiver();
});

afterAll(async () => {
  if (notifier?.running) notifier.process.kill("SIGKILL");
  await bus?.close();
  await sim?.close();
  await receiver?.close();
  await nats?.cleanup();
  await db?.drop();
});

async function startNotifier(): Promise<ServiceProcess> {
  const port = await freePort();
  const env: Record<string, string> = {
    ...serviceProcessEnv({ databaseUrl: db.url, nats }),
    LOG_LEVEL: "debug",
    ...receiver.env,
    OTEL_SERVICE_NAME: "notifier",
    OTEL_BSP_SCHEDULE_DELAY: "100",
    NOTIFY_RECONNECT_URL: "https://app.syncwell.test/connections/{connectionId}/reconnect",
    EMAIL_FROM: "Syncwell <alerts@syncwell.test>",
    RESEND_API_KEY: API_KEY,
    RESEND_BASE_URL: control.emailApiUrl(),
    EMAIL_BACKOFF_BASE: "100ms",
    EMAIL_BACKOFF_MAX: "200ms",
    EMAIL_POLL_INTERVAL: "200ms",
  };
  const started = spawnService("notifier", env, port, {
    inheritEnv: false,
    nodeArgs: ["--import", "@syncwell/telemetry/register"],
  });
  await started.ready(patience.timeoutMs);
  return started;
}

async function lostGrant(): Promise<{ userId: string; address: string }> {
  const userId = randomUUID();
  const address = `${userId}@example.test`;
  await db.pool.query(`INSERT INTO users (id, email) VALUES ($1, $2)`, [userId, address]);
  await bus.publish(needsReauthEvent({ userId, connectionId: randomUUID(), provider: "google" }));
  return { userId, address };
}

async function emailStatus(userId: string): Promise<string | undefined> {
  const { rows } = await db.pool.query<{ status: string }>(
    `SELECT m.status FROM notification_messages m JOIN notifications n ON n.id = m.notification_id
     WHERE n.user_id = $1 AND m.channel = 'email'`,
    [userId],
  );
  return rows[0]?.status;
}

it("never logs, stores or publishes the Resend API key, even when Resend's answers quote it", async () => {
  const started = await startNotifier();
  notifier = started;
  await control.addFault({
    endpoint: "email",
    fault: { kind: "status", status: 403, errorDescription: `API key ${API_KEY} is not allowed` },
  });
  const refused = await lostGrant();
  await waitFor(async () => (await emailStatus(refused.userId)) === "failed", "the refused email", patience);

  await control.addFault({
    endpoint: "email",
    fault: { kind: "status", status: 500, errorDescription: `upstream: authorization=Bearer ${API_KEY}` },
  });
  const retried = await lostGrant();
  await waitFor(async () => (await emailStatus(retried.userId)) === "sent", "the retried email", patience);

  // A send in flight when SIGTERM comes is awaited and recorded before the process ends.
  await control.addFault({ endpoint: "email", fault: { kind: "latency", ms: 1_500 } });
  const slow = await lostGrant();
  await waitFor(
    async () => {
      const { rows } = await db.pool.query(
        `SELECT 1 FROM notification_delivery_attempts a JOIN notification_messages m ON m.id = a.message_id
         JOIN notifications n ON n.id = m.notification_id WHERE n.user_id = $1 AND a.finished_at IS NULL`,
        [slow.userId],
      );
      return rows.length === 1;
    },
    "the slow send to begin",
    patience,
  );
  started.process.kill("SIGTERM");
  expect((await started.exited).code).toBe(0);
  expect(await emailStatus(slow.userId)).toBe("sent");
  expect(await control.emails({ to: slow.address })).toHaveLength(1);

  const output = started.output();
  expect(output).toContain('"msg":"email sent"');
  expect(output).toContain('"msg":"email failed"');
  expect(output).toContain('"msg":"email send failed; retrying later"');
  expect(output).toContain("[redacted]");
  expect(output).not.toContain(API_KEY);
  expect(output).not.toContain("LogCheck");
  const stored = await db.pool.query(
    `SELECT (SELECT json_agg(a) FROM notification_delivery_attempts a)::text AS attempts,
            (SELECT json_agg(m) FROM notification_messages m)::text AS messages,
            (SELECT json_agg(o) FROM outbox_events o)::text AS outbox`,
  );
  expect(JSON.stringify(stored.rows)).toContain("[redacted]");
  expect(JSON.stringify(stored.rows)).not.toContain("LogCheck");

  // Four deliveries (refused, failed then sent, slow), each in its event's trace, named by its log lines.
  const spans = await receiver.waitForSpans(
    (all) => all.filter((x) => x.name === "email deliver").length >= 4,
  );
  expect(JSON.stringify(spans)).not.toContain("LogCheck");
  const deliveries = new Set(spans.filter((x) => x.name === "email deliver").map((x) => x.traceId));
  const outcomeMessages = ["email sent", "email failed", "email send failed; retrying later"];
  const outcomes = output
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as { msg?: string; trace_id?: string })
    .filter((line) => outcomeMessages.includes(line.msg ?? ""));
  expect(outcomes).toHaveLength(4);
  for (const line of outcomes) expect(deliveries.has(line.trace_id ?? "")).toBe(true);
});
