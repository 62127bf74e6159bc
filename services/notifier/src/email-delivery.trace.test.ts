// The notifier as its own process, traced: an email's delivery, which the email worker makes later
// and out of its own claim loop, joins the trace of the event that caused the notification (so a
// trace runs from the scheduler's tick to the email), and notification.delivered continues it.
import { randomBytes, randomUUID } from "node:crypto";
import { headers } from "@nats-io/transport-node";
import type { Bus } from "@syncwell/bus";
import { subjectOf } from "@syncwell/contracts";
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

let db: TestDatabase;
let nats: TestNats;
let bus: Bus;
let sim: Simulator;
let control: SimulatorControl;
let receiver: OtlpReceiver;
let notifier: ServiceProcess | undefined;

beforeAll(async () => {
  db = await createTestDatabase();
  nats = createTestNats("notifier-trace");
  bus = await createTestBus(nats);
  sim = await createSimulator();
  control = new SimulatorControl(sim.url);
  receiver = await startOtlpReceiver();
  notifier = spawnService(
    "notifier",
    {
      ...serviceProcessEnv({ databaseUrl: db.url, nats }),
      LOG_LEVEL: "info",
      ...receiver.env,
      OTEL_BSP_SCHEDULE_DELAY: "100",
      EMAIL_FROM: "Syncwell <alerts@syncwell.test>",
      RESEND_API_KEY: "re_trace_test",
      RESEND_BASE_URL: control.emailApiUrl(),
      EMAIL_POLL_INTERVAL: "200ms",
      EMAIL_BACKOFF_BASE: "200ms",
      EMAIL_BACKOFF_MAX: "400ms",
    },
    await freePort(),
    { inheritEnv: false, nodeArgs: ["--import", "@syncwell/telemetry/register"] },
  );
  await notifier.ready(45_000);
}, 60_000);

afterAll(async () => {
  notifier?.process.kill("SIGKILL");
  await notifier?.exited;
  await bus?.close();
  await sim?.close();
  await receiver?.close();
  await nats?.cleanup();
  await db?.drop();
});

it("delivers an email in the trace of the token.failed that caused it, a retry included", async () => {
  const userId = randomUUID();
  const address = `${userId}@example.test`;
  await db.pool.query(`INSERT INTO users (id, email) VALUES ($1, $2)`, [userId, address]);
  // The first send fails: the retry, a later claim of the same message, must keep the trace too.
  await control.addFault({ endpoint: "email", fault: { kind: "status", status: 503 } });

  // As the token service publishes it while refreshing in a tick's trace.
  const traceId = randomBytes(16).toString("hex");
  const parentSpanId = randomBytes(8).toString("hex");
  const event = needsReauthEvent({ userId, connectionId: randomUUID(), provider: "google" });
  const h = headers();
  h.set("traceparent", `00-${traceId}-${parentSpanId}-01`);
  await bus.js.publish(bus.naming.subject(subjectOf(event)), JSON.stringify(event), {
    msgID: event.id,
    headers: h,
  });

  await waitFor(async () => (await control.emails({ to: address })).length === 1, "the email sent", {
    timeoutMs: 30_000,
  });
  const spans = await receiver.waitForSpans(
    (all) =>
      all.filter((s) => s.traceId === traceId && s.name === "email deliver").length === 2 &&
      all.some((s) => s.traceId === traceId && s.name.endsWith("notification.delivered")),
    30_000,
  );
  const trace = spans.filter((s) => s.traceId === traceId);
  const byId = new Map(trace.map((s) => [s.spanId, s]));
  const deliveries = trace.filter((s) => s.name === "email deliver");
  expect(deliveries).toHaveLength(2);
  for (const delivery of deliveries) {
    // A child of the consumer's work on the event, which is a child of the publisher's span.
    const ancestors: string[] = [];
    for (let s = byId.get(delivery.parentSpanId); s !== undefined; s = byId.get(s.parentSpanId)) {
      ancestors.push(s.name);
      if (s.parentSpanId === parentSpanId) ancestors.push("(the publisher)");
    }
    expect(ancestors).toContain(`process ${bus.naming.subject("token.failed")}`);
    expect(ancestors.at(-1)).toBe("(the publisher)");
  }
  expect(await control.emails({ to: address })).toHaveLength(1);
}, 60_000);
