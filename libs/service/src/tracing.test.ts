import { type ChildProcess, spawn } from "node:child_process";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { type Bus, createBus } from "@syncwell/bus";
import { createEvent, uuidv7 } from "@syncwell/contracts";
import {
  createTestDatabase,
  createTestNats,
  freePort,
  nodeBinary,
  type OtlpReceiver,
  type ReceivedSpan,
  repoRoot,
  startOtlpReceiver,
  type TestDatabase,
  waitFor,
} from "@syncwell/testing";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * What a service sends to the trace collector, seen from an OTLP receiver: a service run as in
 * production (`--import @syncwell/telemetry/register`, SIGTERM to stop) doing what the real ones do.
 */
const fixture = resolve(import.meta.dirname, "fixtures/traced-service.ts");

const SERVER = 2;
const PRODUCER = 4;
const CONSUMER = 5;
/** A trace the test makes up for a message it publishes by hand: its parent is not the service's. */
const OUTSIDE_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const OUTSIDE_PARENT = "00f067aa0ba902b7";

type LogLine = Record<string, unknown>;

const nats = createTestNats("tracing");
let receiver: OtlpReceiver;
let db: TestDatabase;
let bus: Bus;
let child: ChildProcess | undefined;
const logs: LogLine[] = [];
let stderr = "";
let port = 0;

function startFixture(): Promise<number | null> {
  child = spawn(nodeBinary, ["--import", "@syncwell/telemetry/register", fixture], {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH ?? "",
      ...receiver.env,
      OTEL_SERVICE_NAME: "traced-fixture",
      OTEL_BSP_SCHEDULE_DELAY: "100",
      DATABASE_URL: db.url,
      NATS_URL: nats.url,
      NATS_PREFIX: nats.prefix,
      HTTP_HOST: "127.0.0.1",
      HTTP_PORT: String(port),
      LOG_LEVEL: "info",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
    logs.push(JSON.parse(line) as LogLine);
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((done) => child?.on("exit", (code) => done(code)));
}

function refreshedEvent() {
  return createEvent(
    "token.refreshed",
    {
      connectionId: crypto.randomUUID(),
      userId: crypto.randomUUID(),
      provider: "google",
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
      refreshTokenRotated: false,
      recovered: false,
      previousStatus: "connected",
    },
    { source: "test" },
  );
}

function permanentFailure() {
  return createEvent(
    "token.failed",
    {
      connectionId: crypto.randomUUID(),
      userId: crypto.randomUUID(),
      provider: "google",
      classification: "permanent",
      errorCode: "permanent",
      consecutiveFailures: 1,
      consecutiveTransientFailures: 0,
      previousStatus: "connected",
      status: "needs_reauth",
      retryAt: null,
    },
    { source: "test" },
  );
}

/** A message that fails validation, carrying a trace context as a traced publisher would send. */
async function publishInvalidInTrace(): Promise<void> {
  const hdrs = natsHeaders();
  hdrs.set("traceparent", `00-${OUTSIDE_TRACE}-${OUTSIDE_PARENT}-01`);
  await bus.js.publish(bus.naming.subject("token.refreshed"), "not an event", { headers: hdrs });
}

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  db = await createTestDatabase();
  port = await freePort();
  bus = await createBus({
    servers: nats.url,
    prefix: nats.prefix,
    name: "tracing-test",
    logger: pino({ level: "silent" }),
    registry: new Registry(),
    streamOverrides: nats.streamOverrides,
  });
  await bus.provision();
}, 30_000);

afterAll(async () => {
  child?.kill("SIGKILL");
  await bus?.close();
  await nats.cleanup();
  await db?.drop();
  await receiver?.close();
});

describe("traces a service sends", () => {
  it("idle: nothing; busy: named by the conventions, every parent exported, dead letters logged in their trace", async () => {
    const exited = startFixture();
    await waitFor(() => logs.some((l) => l.ready === true), `fixture ready (stderr: ${stderr})`, {
      timeoutMs: 30_000,
    });

    // Idle for several relay polls (1 s each); then one request, whose trace arriving shows that
    // the exporter was sending all along.
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await fetch(`http://127.0.0.1:${port}/things/first`)).status).toBe(200);
    const first = await receiver.waitForSpans((all) => all.some((s) => s.kind === SERVER));
    const firstTrace = first.find((s) => s.kind === SERVER)?.traceId;
    expect(first.filter((s) => s.traceId !== firstTrace).map((s) => s.name)).toEqual([]);

    for (const id of ["a", "b"])
      expect((await fetch(`http://127.0.0.1:${port}/things/${id}`)).status).toBe(200);
    for (let i = 0; i < 3; i++) await bus.publish(refreshedEvent());
    await bus.publish(permanentFailure());
    await publishInvalidInTrace();
    await bus.publish(
      createEvent(
        "tick",
        {
          schedule: "traced",
          slot: new Date().toISOString(),
          catchUp: false,
          manual: false,
          jobRunId: uuidv7(),
        },
        { source: "test" },
      ),
    );
    const processed = (spans: ReceivedSpan[]) => spans.filter((s) => s.kind === CONSUMER);
    // 3 refreshed, 3 failed published directly, 3 through the outbox, the permanent one, the invalid one.
    await receiver.waitForSpans((all) => processed(all).length >= 11, 20_000);
    await waitFor(
      () => logs.some((l) => l.msg === "message dead-lettered" && l.reason === "invalid"),
      "DL logs",
    );

    child?.kill("SIGTERM");
    expect(await exited).toBe(0);
    const spans = receiver.spans();

    // Every span's parent arrived (the made-up outside parent aside), the tick's included.
    const ids = new Set(spans.map((s) => s.spanId));
    const orphans = spans.filter((s) => s.parentSpanId !== "" && !ids.has(s.parentSpanId));
    expect(orphans.filter((s) => s.parentSpanId !== OUTSIDE_PARENT).map((s) => s.name)).toEqual([]);
    const tick = spans.find((s) => s.kind === CONSUMER && s.name.endsWith(".tick.traced"));
    expect(tick?.status.code).toBe(2);

    // Names: `GET /route`, `send <subject>`, `process <subject>`; no function source text.
    const server = spans.filter((s) => s.kind === SERVER).map((s) => s.name);
    expect(new Set(server)).toEqual(new Set(["GET /things/:id"]));
    const subject = (relative: string) => `${nats.prefix}.${relative}`;
    const messaging = new Set(
      spans.filter((s) => s.kind === PRODUCER || s.kind === CONSUMER).map((s) => s.name),
    );
    expect(messaging).toEqual(
      new Set([
        `send ${subject("token.failed")}`,
        `process ${subject("token.refreshed")}`,
        `process ${subject("token.failed")}`,
        `process ${subject("tick.traced")}`,
      ]),
    );
    for (const span of spans) expect(span.name).toMatch(/^[\w .:/@-]+$/);
    const names = new Set(spans.map((s) => s.name));
    expect(names).toContain("handler GET /things/:id");
    expect(names).toContain("onRequest");

    // A handler's publishes, direct or through the outbox relay, continue the message's trace.
    const refreshed = new Set(
      spans.filter((s) => s.name === `process ${subject("token.refreshed")}`).map((s) => s.spanId),
    );
    const sends = spans.filter((s) => s.kind === PRODUCER && refreshed.has(s.parentSpanId));
    expect(sends).toHaveLength(6);

    // Each dead letter is logged in the trace of the message that died.
    const deadLettered = logs.filter((l) => l.msg === "message dead-lettered");
    expect(deadLettered).toHaveLength(2);
    const invalid = deadLettered.find((l) => l.reason === "invalid");
    expect(invalid?.trace_id).toBe(OUTSIDE_TRACE);
    const permanent = deadLettered.find((l) => l.reason === "permanent");
    const permanentSpan = spans.find((s) => s.spanId === permanent?.span_id);
    expect(permanentSpan?.name).toBe(`process ${subject("token.failed")}`);
    expect(permanentSpan?.traceId).toBe(permanent?.trace_id);
  }, 90_000);
});
