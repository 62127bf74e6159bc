import { type ChildProcess, spawn } from "node:child_process";
import { resolve } from "node:path";
import type { Bus } from "@syncwell/bus";
import {
  createTestBus,
  createTestDatabase,
  createTestNats,
  nodeBinary,
  type OtlpReceiver,
  repoRoot,
  startOtlpReceiver,
  type TestDatabase,
  waitFor,
} from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readTicks, schedulerEnv, TEST_API_TOKEN } from "./testing/fixtures.ts";

// main.ts as production starts it: its own process, telemetry loaded first.
const main = resolve(import.meta.dirname, "main.ts");

const SERVER = 2;
const PRODUCER = 4;

const nats = createTestNats("schedmain");
let db: TestDatabase;
let bus: Bus;
let receiver: OtlpReceiver;

beforeAll(async () => {
  db = await createTestDatabase();
  bus = await createTestBus(nats, "scheduler-test");
  receiver = await startOtlpReceiver();
});

afterAll(async () => {
  await bus?.close();
  await receiver?.close();
  await nats.cleanup();
  await db?.drop();
});

type Child = { process: ChildProcess; exited: Promise<number | null>; stderr: () => string };

function startMain(env: Record<string, string>): Child {
  const child = spawn(nodeBinary, ["--import", "@syncwell/telemetry/register", main], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((done) => child.on("close", (code) => done(code)));
  return { process: child, exited, stderr: () => stderr };
}

describe("main.ts", () => {
  it("stops at start-up on an invalid cron expression, naming the variable", async () => {
    const env = await schedulerEnv(db, nats, {
      SCHEDULE_HEALTH_SWEEP: "*/15 * * *",
      OTEL_SDK_DISABLED: "true",
    });
    const child = startMain(env);
    expect(await child.exited).toBe(1);
    expect(child.stderr()).toMatch(
      /^Invalid configuration \(1 problem\):\n {2}SCHEDULE_HEALTH_SWEEP: "\*\/15 \* \* \*" is not a valid cron expression/,
    );
  }, 20_000);

  it("answers a trigger with the trace id the tick carries, and exits cleanly on SIGTERM", async () => {
    const env = await schedulerEnv(db, nats, {
      SCHEDULES_EXTRA: "traced=0 0 1 1 *",
      ...receiver.env,
      OTEL_SERVICE_NAME: "scheduler-it",
      OTEL_BSP_SCHEDULE_DELAY: "100",
    });
    const child = startMain(env);
    try {
      const url = `http://127.0.0.1:${env.HTTP_PORT}`;
      await waitFor(
        () =>
          fetch(`${url}/readyz`).then(
            (r) => r.ok,
            () => false,
          ),
        "the scheduler to be ready",
        { timeoutMs: 20_000, intervalMs: 100 },
      );
      const res = await fetch(`${url}/schedules/traced/trigger`, {
        method: "POST",
        headers: { authorization: `Bearer ${TEST_API_TOKEN}` },
      });
      expect(res.status).toBe(202);
      const body = (await res.json()) as { eventId: string; traceId: string | null };
      expect(body.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(body.traceId).not.toBe("0".repeat(32));

      const tick = await waitFor(
        async () => (await readTicks(bus)).find((t) => t.event.id === body.eventId),
        "the manual tick",
        { timeoutMs: 15_000, intervalMs: 100 },
      );
      expect(tick.traceparent?.split("-")[1]).toBe(body.traceId);

      // The HTTP server span and the relay's publish are in that trace.
      const spans = await receiver.waitForSpans((all) => {
        const t = all.filter((s) => s.traceId === body.traceId);
        return t.some((s) => s.kind === SERVER) && t.some((s) => s.kind === PRODUCER);
      });
      const inTrace = spans.filter((s) => s.traceId === body.traceId);
      expect(inTrace.every((s) => s.serviceName === "scheduler-it")).toBe(true);
      expect(inTrace.map((s) => s.name)).toContain("trigger traced");
    } finally {
      child.process.kill("SIGTERM");
    }
    expect(await child.exited).toBe(0);
  }, 40_000);
});
