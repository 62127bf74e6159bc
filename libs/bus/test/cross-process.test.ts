import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { SpanKind } from "@opentelemetry/api";
import { startOtlpReceiver, waitFor } from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Bus } from "../src/index.ts";
import { createTestNats, refreshedEvent, testBus } from "./helpers.ts";

const fixture = fileURLToPath(new URL("./fixtures/bus-process.ts", import.meta.url));
const nats = createTestNats("xproc");
let bus: Bus;

type Line = Record<string, unknown>;

function runFixture(mode: "consume" | "publish", env: Record<string, string>, traced: boolean) {
  const args = [...(traced ? ["--import", "@syncwell/telemetry/register"] : []), fixture, mode];
  const child = spawn(process.execPath, args, {
    env: {
      ...process.env,
      BUS_NATS_URL: nats.url,
      BUS_PREFIX: nats.prefix,
      OTEL_SDK_DISABLED: traced ? "false" : "true",
      OTEL_BSP_SCHEDULE_DELAY: "100",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: Line[] = [];
  let stderr = "";
  createInterface({ input: child.stdout }).on("line", (l) => lines.push(JSON.parse(l) as Line));
  child.stderr.on("data", (d) => {
    stderr += String(d);
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  return { child, lines, exited, stderr: () => stderr };
}

const children: ChildProcess[] = [];

beforeAll(async () => {
  bus = await testBus(nats);
  await bus.provision();
});

afterAll(async () => {
  for (const c of children) c.kill("SIGKILL");
  await bus?.close();
  await nats.cleanup();
});

describe("across processes", () => {
  it("delivers an event published here to a consumer in another process", async () => {
    const consumer = runFixture("consume", { BUS_DURABLE: "xproc-roundtrip" }, false);
    children.push(consumer.child);
    await waitFor(
      () => consumer.lines.some((l) => l.ready),
      `consumer ready (stderr: ${consumer.stderr()})`,
      { timeoutMs: 20_000 },
    );
    const events = [refreshedEvent(), refreshedEvent(), refreshedEvent()];
    for (const e of events) await bus.publish(e);
    await waitFor(() => consumer.lines.filter((l) => l.id).length >= 3, "three events in the child");
    expect(consumer.lines.filter((l) => l.id).map((l) => l.id)).toEqual(events.map((e) => e.id));
    consumer.child.kill("SIGTERM");
    expect(await consumer.exited).toBe(0);
  });

  it("carries one trace across the hop, seen by a real OTLP receiver", async () => {
    const receiver = await startOtlpReceiver();
    try {
      const otel = receiver.env;
      const consumer = runFixture(
        "consume",
        { ...otel, BUS_DURABLE: "xproc-trace", OTEL_SERVICE_NAME: "fixture-consumer" },
        true,
      );
      children.push(consumer.child);
      await waitFor(
        () => consumer.lines.some((l) => l.ready),
        `consumer ready (stderr: ${consumer.stderr()})`,
        { timeoutMs: 20_000 },
      );
      const event = refreshedEvent();
      const publisher = runFixture(
        "publish",
        { ...otel, BUS_EVENT: JSON.stringify(event), OTEL_SERVICE_NAME: "fixture-publisher" },
        true,
      );
      expect(await publisher.exited, publisher.stderr()).toBe(0);
      const published = publisher.lines.find((l) => l.published === event.id);
      await waitFor(() => consumer.lines.some((l) => l.id === event.id), "the event in the consumer");
      const handled = consumer.lines.find((l) => l.id === event.id);
      expect(handled?.traceId).toBe(published?.traceId);

      const subject = bus.naming.subject("token.refreshed");
      const spans = await receiver.waitForSpans(
        (all) => all.some((s) => s.name === `process ${subject}` && s.traceId === published?.traceId),
        15_000,
      );
      const producer = spans.find((s) => s.name === `send ${subject}` && s.traceId === published?.traceId);
      const processSpan = spans.find(
        (s) => s.name === `process ${subject}` && s.traceId === published?.traceId,
      );
      expect(producer?.kind).toBe(SpanKind.PRODUCER + 1); // OTLP numbers kinds from 1 (INTERNAL)
      expect(producer?.serviceName).toBe("fixture-publisher");
      expect(producer?.attributes).toMatchObject({
        "messaging.system": "nats",
        "messaging.destination.name": subject,
        "messaging.message.id": event.id,
        "messaging.operation.type": "send",
      });
      expect(processSpan?.kind).toBe(SpanKind.CONSUMER + 1);
      expect(processSpan?.serviceName).toBe("fixture-consumer");
      expect(processSpan?.parentSpanId).toBe(producer?.spanId);
      expect(processSpan?.attributes).toMatchObject({
        "messaging.consumer.group.name": "xproc-trace",
        "messaging.message.id": event.id,
        "messaging.operation.type": "process",
      });
      consumer.child.kill("SIGTERM");
      await consumer.exited;
    } finally {
      await receiver.close();
    }
  });
});
