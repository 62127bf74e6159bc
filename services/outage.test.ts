/**
 * Every service, started as production starts it, through an outage of Postgres and then of NATS:
 * TCP proxies in front of the shared servers are cut for a few seconds (the servers themselves are
 * shared and never stopped). No process exits, /readyz answers 503 naming the dependency while it
 * is away and 200 within seconds of its return, the scheduler's ticks flow again through its outbox
 * relay, a failure repeated through the outage is logged once rather than per attempt, and every
 * service still stops cleanly afterwards.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  createTestDatabase,
  createTestNats,
  freePort,
  startTcpProxy,
  type TcpProxy,
  type TestDatabase,
  testNatsUrl,
  waitFor,
} from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));
const names = ["scheduler", "token-service", "poller", "health-scorer", "notifier"] as const;
const nats = createTestNats("outage");
let db: TestDatabase;
let pgProxy: TcpProxy;
let natsProxy: TcpProxy;
let nc: NatsConnection;
/** Slots of the every-second ticks seen on NATS (epoch ms). */
const tickSlots: number[] = [];

type Service = {
  name: string;
  url: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  output: () => string;
};
const services: Service[] = [];

type LogLine = { level?: string; msg?: string };

function logLines(service: Service, from = 0): LogLine[] {
  return service
    .output()
    .slice(from)
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as LogLine);
}

async function start(name: string): Promise<Service> {
  const port = await freePort();
  const env = {
    PATH: process.env.PATH ?? "",
    DATABASE_URL: pgProxy.rewrite(db.url),
    NATS_URL: natsProxy.rewrite(nats.url),
    NATS_PREFIX: nats.prefix,
    HTTP_HOST: "127.0.0.1",
    HTTP_PORT: String(port),
    LOG_LEVEL: "info",
    OTEL_SDK_DISABLED: "true",
    SCHEDULER_API_TOKEN: randomBytes(24).toString("hex"),
    TOKEN_SERVICE_API_TOKEN: randomBytes(24).toString("hex"),
    TOKEN_ENCRYPTION_KEYS: `k1:${randomBytes(32).toString("base64")}`,
    TOKEN_ENCRYPTION_CURRENT_KEY: "k1",
    // The scheduler fires every second, so its loop keeps meeting the outage, and so do the runs
    // its ticks start: token refreshes, polls (one lane per platform) and health sweeps.
    ...(name === "scheduler" && {
      SCHEDULES_EXTRA: "every-second=* * * * * *",
      SCHEDULE_TOKEN_REFRESH: "* * * * * *",
      SCHEDULE_POLL: "* * * * * *",
      SCHEDULE_HEALTH_SWEEP: "* * * * * *",
    }),
  };
  const child = spawn(
    process.execPath,
    ["--import", "@syncwell/telemetry/register", `services/${name}/src/main.ts`],
    {
      cwd: root,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  child.stdout?.on("data", (d) => {
    output += String(d);
  });
  child.stderr?.on("data", (d) => {
    output += String(d);
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { name, url: `http://127.0.0.1:${port}`, child, exited, output: () => output };
}

type Readyz = { status: number; body: { checks?: Record<string, string> }; ms: number };

async function readyz(service: Service): Promise<Readyz | undefined> {
  const started = performance.now();
  const res = await fetch(`${service.url}/readyz`).catch(() => undefined);
  if (!res) return undefined;
  return { status: res.status, body: (await res.json()) as Readyz["body"], ms: performance.now() - started };
}

/** Every service's /readyz until `accept` holds for all of them; resolves how long each took. */
async function waitAll(accept: (r: Readyz) => boolean, what: string, timeoutMs: number): Promise<number[]> {
  const started = performance.now();
  return Promise.all(
    services.map(async (service) => {
      await waitFor(
        async () => {
          if (service.child.exitCode !== null) {
            throw new Error(
              `${service.name} exited (${service.child.exitCode}):\n${service.output().slice(-3_000)}`,
            );
          }
          const r = await readyz(service);
          return r !== undefined && accept(r);
        },
        `${service.name}: ${what}`,
        { timeoutMs, intervalMs: 200 },
      );
      return performance.now() - started;
    }),
  );
}

async function tickAfter(epochMs: number): Promise<void> {
  await waitFor(() => tickSlots.some((slot) => slot > epochMs), "a tick slotted after the outage", {
    timeoutMs: 15_000,
    intervalMs: 100,
  });
}

function expectAllRunning(): void {
  for (const service of services) expect(service.child.exitCode, `${service.name} exited`).toBeNull();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  db = await createTestDatabase();
  const pgUrl = new URL(db.url);
  pgProxy = await startTcpProxy({ host: pgUrl.hostname, port: Number(pgUrl.port || 5432) });
  const natsUrl = new URL(testNatsUrl);
  natsProxy = await startTcpProxy({ host: natsUrl.hostname, port: Number(natsUrl.port || 4222) });
  nc = await connect({ servers: nats.url });
  nc.subscribe(`${nats.prefix}.tick.every-second`, {
    callback: (_err, msg) => tickSlots.push(Date.parse(msg.json<{ data: { slot: string } }>().data.slot)),
  });
  services.push(...(await Promise.all(names.map(start))));
  await waitAll((r) => r.status === 200, "ready", 45_000);
}, 60_000);

afterAll(async () => {
  for (const service of services) service.child.kill("SIGKILL");
  await nc?.close();
  await pgProxy?.close();
  await natsProxy?.close();
  await nats.cleanup();
  await db?.drop();
});

describe("all five services", () => {
  it("ride out a Postgres outage: 503 during, 200 after, ticks resume, one line for the failures", async () => {
    await tickAfter(Date.now() - 1_000);
    const marks = services.map((s) => s.output().length);
    pgProxy.cut();
    const cutAt = Date.now();
    await waitAll(
      (r) => r.status === 503 && r.body.checks?.postgres === "error",
      "503 naming postgres",
      10_000,
    );
    // Answers come from the probes' own bound, not from a hanging connection.
    for (const service of services) expect((await readyz(service))?.ms).toBeLessThan(2_500);
    await sleep(Math.max(0, 4_000 - (Date.now() - cutAt)));
    pgProxy.restore();
    const restoredAt = Date.now();

    const back = await waitAll((r) => r.status === 200, "ready again", 15_000);
    expect(Math.max(...back)).toBeLessThan(6_000);
    await tickAfter(restoredAt);
    expectAllRunning();

    const scheduler = services[0] as Service;
    const firing = logLines(scheduler, marks[0]).filter((l) =>
      l.msg?.startsWith("firing a slot of every-second"),
    );
    // About four failed seconds: one line for them, one when it works again.
    expect(firing.map((l) => l.msg?.replace(/\d+/g, "N"))).toEqual([
      "firing a slot of every-second failed; retrying",
      "firing a slot of every-second works again after N failures in N s",
    ]);
    for (const [i, service] of services.entries()) {
      const lines = logLines(service, marks[i]);
      expect(
        lines.filter((l) => /uncaught|unhandled/i.test(l.msg ?? "")),
        service.name,
      ).toEqual([]);
      // Each failing loop logs a line or two (about eight for the scheduler: four loops of every
      // service and one per schedule firing each second); a line per attempt would run into the
      // dozens.
      const noisy = lines.filter((l) => l.level === "warn" || l.level === "error");
      expect(noisy.length, `${service.name}: ${noisy.map((l) => l.msg).join(" | ")}`).toBeLessThanOrEqual(12);
    }
  }, 60_000);

  it("ride out a NATS outage: 503 during, 200 after, ticks resume", async () => {
    natsProxy.cut();
    const cutAt = Date.now();
    await waitAll((r) => r.status === 503 && r.body.checks?.nats === "error", "503 naming nats", 10_000);
    for (const service of services) expect((await readyz(service))?.ms).toBeLessThan(2_500);
    await sleep(Math.max(0, 3_000 - (Date.now() - cutAt)));
    natsProxy.restore();
    const restoredAt = Date.now();

    const back = await waitAll((r) => r.status === 200, "ready again", 15_000);
    expect(Math.max(...back)).toBeLessThan(6_000);
    await tickAfter(restoredAt);
    expectAllRunning();
  }, 60_000);

  it("still stop cleanly on SIGTERM", async () => {
    for (const service of services) service.child.kill("SIGTERM");
    const codes = await Promise.all(services.map((s) => s.exited));
    expect(Object.fromEntries(services.map((s, i) => [s.name, codes[i]]))).toEqual(
      Object.fromEntries(services.map((s) => [s.name, 0])),
    );
  }, 30_000);
});
