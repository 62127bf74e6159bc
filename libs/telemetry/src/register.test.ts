import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const repoRoot = resolve(import.meta.dirname, "../../..");
const node22 = resolve(repoRoot, "node_modules/.bin/node");
const nodeBin = existsSync(node22) ? node22 : process.execPath;
const app = resolve(import.meta.dirname, "fixtures/instrumented-app.ts");

const SERVER = 2;
const CLIENT = 3;

type Run = { code: number | null; stdout: string; stderr: string };

function runInstrumentedApp(env: Record<string, string>): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(nodeBin, ["--import", "@syncwell/telemetry/register", app], {
      cwd: repoRoot,
      env: {
        PATH: process.env.PATH ?? "",
        SYNCWELL_TEST_DATABASE_URL:
          process.env.SYNCWELL_TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres",
        OTEL_BSP_SCHEDULE_DELAY: "100",
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", fail);
    child.on("close", (code) => done({ code, stdout, stderr }));
  });
}

function routeResult(run: Run): { one: number; traceId?: string } {
  const line = run.stdout.trim().split("\n").at(-1) ?? "";
  return JSON.parse(line) as { one: number; traceId?: string };
}

describe("@syncwell/telemetry/register", () => {
  let receiver: OtlpReceiver;
  beforeAll(async () => {
    receiver = await startOtlpReceiver();
  });
  afterAll(async () => {
    await receiver.close();
  });

  it("instruments an ESM app: http, fastify and pg spans reach OTLP with the service name", async () => {
    const run = await runInstrumentedApp({
      ...receiver.env,
      OTEL_SERVICE_NAME: "telemetry-it",
    });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const { one, traceId } = routeResult(run);
    expect(one).toBe(1);
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);

    const inTrace = (spans: ReceivedSpan[]) => spans.filter((s) => s.traceId === traceId);
    const spans = inTrace(
      await receiver.waitForSpans((all) => {
        const t = inTrace(all);
        return (
          t.some((s) => s.scopeName === "@opentelemetry/instrumentation-http" && s.kind === SERVER) &&
          t.some((s) => s.scopeName === "@opentelemetry/instrumentation-http" && s.kind === CLIENT) &&
          t.some((s) => s.scopeName === "@fastify/otel") &&
          t.some((s) => s.scopeName === "@opentelemetry/instrumentation-pg" && s.name.startsWith("pg.query"))
        );
      }),
    );

    for (const span of spans) expect(span.serviceName).toBe("telemetry-it");
    const server = spans.find((s) => s.kind === SERVER);
    expect(server?.attributes["http.route"]).toBe("/hello/:name");
    // The app calls `get` from a named ESM import of node:http: only the loader hook can wrap it.
    const client = spans.find(
      (s) => s.kind === CLIENT && s.scopeName === "@opentelemetry/instrumentation-http",
    );
    expect(client).toBeDefined();
    expect(client?.parentSpanId).toBe("");
    expect(server?.parentSpanId).toBe(client?.spanId);
    const fastifyRequest = spans.find((s) => s.scopeName === "@fastify/otel" && s.name === "request");
    expect(fastifyRequest?.parentSpanId).toBe(server?.spanId);
    const query = spans.find((s) => s.name.startsWith("pg.query"));
    expect(query?.attributes["db.query.text"]).toBe("SELECT 1 AS one");
    expect(query?.kind).toBe(CLIENT);

    // Probe routes stay out of Jaeger.
    const probes = receiver
      .spans()
      .filter((s) => s.kind === SERVER && s.attributes["url.path"] === "/healthz");
    expect(probes).toEqual([]);
  }, 30_000);

  it("keeps the service running when the collector is unreachable", async () => {
    const run = await runInstrumentedApp({
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9",
      OTEL_EXPORTER_OTLP_TIMEOUT: "500",
      OTEL_SERVICE_NAME: "telemetry-down",
    });
    expect(run.code).toBe(0);
    expect(routeResult(run).one).toBe(1);
    expect(run.stderr).toMatch(/telemetry flush failed; spans dropped/);
  }, 30_000);

  it("does nothing with OTEL_SDK_DISABLED=true", async () => {
    const before = receiver.spans().length;
    const run = await runInstrumentedApp({
      ...receiver.env,
      OTEL_SERVICE_NAME: "telemetry-off",
      OTEL_SDK_DISABLED: "true",
    });
    expect(run.code).toBe(0);
    const result = routeResult(run);
    expect(result.one).toBe(1);
    expect(result.traceId).toBeUndefined();
    await new Promise((r) => setTimeout(r, 300));
    expect(
      receiver
        .spans()
        .slice(before)
        .filter((s) => s.serviceName === "telemetry-off"),
    ).toEqual([]);
  }, 30_000);
});
