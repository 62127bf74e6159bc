/**
 * The five services as production starts them (main.ts in its own process), each connected as its
 * own NATS user to a nats-server of this file's own with the generated configuration (empty
 * prefix, as compose and Kubernetes run it): every one becomes ready, and a tick the scheduler's
 * user publishes runs the poller's and the token service's work (durable consumers, acks, the
 * replicas' wake-up subjects) without a single permission violation.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { type Bus, createBus } from "@syncwell/bus";
import { findJobRun } from "@syncwell/db";
import {
  createTestDatabase,
  freePort,
  nodeBinary,
  publishTick,
  repoRoot,
  type SecuredNats,
  startSecuredNats,
  type TestDatabase,
  waitFor,
} from "@syncwell/testing";
import pino from "pino";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localDevEnv, nodeArgs, PROCESSES } from "./processes.ts";

const SERVICES = PROCESSES.filter((p) => p.telemetry);
const patience = { timeoutMs: 45_000, intervalMs: 200 };

type Running = { name: string; url: string; child: ChildProcess; output: () => string };

let nats: SecuredNats;
let db: TestDatabase;
let scheduler: Bus;
const running: Running[] = [];

async function start(spec: (typeof SERVICES)[number]): Promise<Running> {
  const port = await freePort();
  const child = spawn(nodeBinary, nodeArgs(spec, true), {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH ?? "",
      ...localDevEnv("http://127.0.0.1:9"),
      ...nats.serviceEnv(spec.name),
      DATABASE_URL: db.url,
      HTTP_HOST: "127.0.0.1",
      HTTP_PORT: String(port),
      LOG_LEVEL: "warn",
      // This server's store is small: JetStream reserves every stream's max bytes up front.
      NATS_STREAM_MAX_BYTES: "16MiB",
      OTEL_SDK_DISABLED: "true",
      OTEL_SERVICE_NAME: spec.name,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  return { name: spec.name, url: `http://127.0.0.1:${port}`, child, output: () => output };
}

async function ready(service: Running): Promise<boolean> {
  if (service.child.exitCode !== null) throw new Error(`${service.name} exited:\n${service.output()}`);
  const res = await fetch(`${service.url}/readyz`).catch(() => undefined);
  return res?.status === 200;
}

beforeAll(async () => {
  [nats, db] = await Promise.all([startSecuredNats(""), createTestDatabase()]);
  for (const spec of SERVICES) running.push(await start(spec));
  scheduler = await createBus({
    servers: nats.url,
    name: "scheduler-test",
    logger: pino({ level: "silent" }),
    registry: new Registry(),
    ...nats.credentials("scheduler"),
  });
});

afterAll(async () => {
  await scheduler?.close();
  await Promise.all(
    running.map(async ({ child }) => {
      if (child.exitCode !== null) return;
      const exited = new Promise((done) => child.once("exit", done));
      child.kill("SIGTERM");
      await exited;
    }),
  );
  await nats?.stop();
  await db?.drop();
});

describe("every service with its own NATS user", () => {
  it("becomes ready: streams provisioned, consumers bound", async () => {
    for (const service of running) await waitFor(() => ready(service), `${service.name} ready`, patience);
  });

  it("runs the ticks the scheduler's user publishes, without a permission violation", async () => {
    for (const service of running) await waitFor(() => ready(service), `${service.name} ready`, patience);
    const poll = await publishTick({ db: db.pool, bus: scheduler }, "poll", { source: "scheduler" });
    const refresh = await publishTick({ db: db.pool, bus: scheduler }, "token-refresh", {
      source: "scheduler",
    });
    for (const id of [poll, refresh]) {
      await waitFor(
        async () => (await findJobRun(db.pool, id))?.finishedAt != null,
        `job run ${id}`,
        patience,
      );
    }
    expect(nats.log()).not.toMatch(/Violation/i);
  });
});
