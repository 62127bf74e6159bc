/**
 * Every service, started the way production starts it (`node --import @syncwell/telemetry/register
 * services/<name>/src/main.ts`), connects to the real Postgres and NATS, reports ready, serves its
 * metrics, and stops cleanly on SIGTERM. A missing variable stops it with a message naming it.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { createTestDatabase, createTestNats, freePort, type TestDatabase, waitFor } from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));
const services = ["scheduler", "token-service", "poller", "health-scorer", "notifier"] as const;
const nats = createTestNats("svc");
let db: TestDatabase;

/** Variables a service needs beyond the common ones; secrets here are throwaway test values. */
function serviceEnv(port: number): Record<string, string> {
  return {
    DATABASE_URL: db.url,
    NATS_URL: nats.url,
    NATS_PREFIX: nats.prefix,
    HTTP_HOST: "127.0.0.1",
    HTTP_PORT: String(port),
    LOG_LEVEL: "info",
    OTEL_SDK_DISABLED: "true",
    SCHEDULER_API_TOKEN: randomBytes(24).toString("hex"),
    TOKEN_SERVICE_API_TOKEN: randomBytes(24).toString("hex"),
    TOKEN_ENCRYPTION_KEYS: `k1:${randomBytes(32).toString("base64")}`,
    TOKEN_ENCRYPTION_CURRENT_KEY: "k1",
  };
}

function start(name: string, env: Record<string, string>) {
  const child = spawn(
    process.execPath,
    ["--import", "@syncwell/telemetry/register", `services/${name}/src/main.ts`],
    { cwd: root, env: { PATH: process.env.PATH ?? "", ...env }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout.on("data", (d) => {
    output += String(d);
  });
  child.stderr.on("data", (d) => {
    output += String(d);
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, exited, output: () => output };
}

async function waitReady(url: string, timeoutMs: number, output: () => string): Promise<Response> {
  try {
    return await waitFor(
      async () => {
        const res = await fetch(`${url}/readyz`).catch(() => null); // null: not listening yet
        return res?.status === 200 ? res : undefined;
      },
      `${url}/readyz`,
      { timeoutMs, intervalMs: 200 },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; output:\n${output()}`);
  }
}

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await nats.cleanup();
  await db?.drop();
});

describe.each(services)("%s", (name) => {
  it("starts, reports ready with Postgres and NATS, serves metrics and stops cleanly on SIGTERM", async () => {
    const port = await freePort();
    const service = start(name, serviceEnv(port));
    try {
      const url = `http://127.0.0.1:${port}`;
      const ready = await waitReady(url, 45_000, service.output);
      expect(await ready.json()).toMatchObject({ status: "ready", checks: { postgres: "ok", nats: "ok" } });
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toContain("syncwell_outbox_lag_seconds");
      expect(metrics).toContain("process_cpu_seconds_total");
      service.child.kill("SIGTERM");
      expect(await service.exited).toBe(0);
      expect(service.output()).toContain("shutdown complete");
    } finally {
      service.child.kill("SIGKILL");
    }
  });

  it("refuses to start without DATABASE_URL and says so", async () => {
    const env = serviceEnv(await freePort());
    const { DATABASE_URL: _omitted, ...rest } = env;
    const service = start(name, rest);
    expect(await service.exited).toBe(1);
    expect(service.output()).toMatch(/DATABASE_URL: required/);
  });
});
