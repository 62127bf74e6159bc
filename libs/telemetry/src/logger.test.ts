import { Writable } from "node:stream";
import { context, trace } from "@opentelemetry/api";
import {
  InMemorySpanExporter,
  SimpleSpanProcessor,
  StackContextManager,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "./logger.ts";

function capture(): { stream: Writable; lines: () => Array<Record<string, unknown>>; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString("utf8"));
      callback();
    },
  });
  const text = () => chunks.join("");
  return {
    stream,
    text,
    lines: () =>
      text()
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

describe("createLogger", () => {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const contextManager = new StackContextManager();

  beforeAll(() => {
    context.setGlobalContextManager(contextManager.enable());
  });
  afterAll(async () => {
    context.disable();
    await provider.shutdown();
  });

  it("puts the service on every line and trace_id/span_id inside an active span", () => {
    const out = capture();
    const logger = createLogger({ service: "token-service", destination: out.stream });
    const tracer = provider.getTracer("logger-test");

    logger.info("outside");
    let expected: { traceId: string; spanId: string } | undefined;
    tracer.startActiveSpan("refresh", (span) => {
      expected = span.spanContext();
      logger.child({ connectionId: "c1" }).info("inside");
      span.end();
    });

    const [outside, inside] = out.lines();
    expect(outside).toMatchObject({ service: "token-service", msg: "outside", level: "info" });
    expect(outside).not.toHaveProperty("trace_id");
    expect(inside).toMatchObject({
      service: "token-service",
      msg: "inside",
      connectionId: "c1",
      trace_id: expected?.traceId,
      span_id: expected?.spanId,
    });
    expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual(["refresh"]);
    expect(trace.getActiveSpan()).toBeUndefined();
  });

  it("redacts secrets at the top level and nested, and never prints them", () => {
    const out = capture();
    const logger = createLogger({ service: "svc", destination: out.stream });
    logger.info(
      {
        token: "SECRET-top-token",
        password: "SECRET-password",
        key: "SECRET-key",
        connection: {
          id: "conn-1",
          accessToken: "SECRET-access",
          refresh_token: "SECRET-refresh",
          credentials: { clientSecret: "SECRET-client", api_key: "SECRET-api-key" },
        },
        connections: [{ accessToken: "SECRET-in-array" }],
        req: {
          method: "GET",
          headers: { authorization: "Bearer SECRET-header", cookie: "sid=SECRET-cookie" },
        },
        headers: { authorization: "Basic SECRET-basic", Authorization: "Bearer SECRET-capital" },
      },
      "connection refreshed",
    );
    const text = out.text();
    expect(text).not.toContain("SECRET");
    const [line] = out.lines();
    expect(line).toMatchObject({
      token: "[redacted]",
      password: "[redacted]",
      key: "[redacted]",
      connection: {
        id: "conn-1",
        accessToken: "[redacted]",
        refresh_token: "[redacted]",
        credentials: { clientSecret: "[redacted]", api_key: "[redacted]" },
      },
      connections: [{ accessToken: "[redacted]" }],
      req: { method: "GET", headers: { authorization: "[redacted]", cookie: "[redacted]" } },
      headers: { authorization: "[redacted]", Authorization: "[redacted]" },
    });
  });

  it("masks credentials quoted in an error's message and stack", () => {
    const out = capture();
    const logger = createLogger({ service: "svc", destination: out.stream });
    const err = new Error('token endpoint said {"error":"invalid_grant","refresh_token":"SECRET-rt"}');
    logger.error({ err }, "refresh failed");
    expect(out.text()).not.toContain("SECRET");
    const [line] = out.lines();
    expect(line?.err).toMatchObject({
      type: "Error",
      message: expect.stringContaining('"refresh_token":"[redacted]"'),
    });
  });

  it("honours the level", () => {
    const out = capture();
    const logger = createLogger({ service: "svc", level: "warn", destination: out.stream });
    logger.info("dropped");
    logger.warn("kept");
    expect(out.lines().map((l) => l.msg)).toEqual(["kept"]);
  });
});
