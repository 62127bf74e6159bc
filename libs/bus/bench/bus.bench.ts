/**
 * npm run bench:bus [-- --events 20000 --latency-events 2000 --concurrency 16 --rounds 3 --variants raw,bus,inbox]
 *
 * Publishes and consumes the same token.refreshed events three ways against the real NATS server:
 * raw JetStream (publish with msgID, consume, ack), the Syncwell bus (validation, trace context,
 * spans, metrics, explicit ack), and the bus with an inbox write per event (a Postgres transaction
 * each). Prints publish and consume+ack rates, the bus/raw ratio, and publish-to-handle latency.
 *
 * Tracing is real: this file re-runs itself under `--import @syncwell/telemetry/register` with the
 * OTLP exporter pointed at a sink in this (parent) process, so span creation, context propagation
 * and batch export all count against the bus, and the sink's own work does not.
 */
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { trace } from "@opentelemetry/api";
import { type AnyEvent, createEvent, streams } from "@syncwell/contracts";
import { createTestDatabase, createTestNats, median, percentile, waitFor } from "@syncwell/testing";
import pino from "pino";
import { Registry } from "prom-client";
import { applyOnce, type Bus, createBus } from "../src/index.ts";

const { values: args } = parseArgs({
  options: {
    events: { type: "string", default: "20000" },
    "latency-events": { type: "string", default: "2000" },
    rounds: { type: "string", default: "3" },
    concurrency: { type: "string", default: "16" },
    variants: { type: "string", default: "raw,bus,inbox" },
  },
});
const N = Number(args.events);
const LATENCY_N = Number(args["latency-events"]);
const CONCURRENCY = Number(args.concurrency);
const ROUNDS = Number(args.rounds);
const PUBLISH_WINDOW = 512;
const RAW_PULL = 256;

const logger = pino({ level: "warn" });
const nats = createTestNats("bench");

function makeEvents(n: number): AnyEvent[] {
  return Array.from({ length: n }, (_, i) =>
    createEvent(
      "token.refreshed",
      {
        connectionId: crypto.randomUUID(),
        userId: crypto.randomUUID(),
        provider: "google",
        expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
        refreshTokenRotated: i % 3 === 0,
        recovered: false,
        previousStatus: "connected",
      },
      { source: "bench" },
    ),
  );
}

/** Exports the spans buffered so far (no-op without the SDK). */
async function flushSpans(): Promise<void> {
  const provider = trace.getTracerProvider() as { getDelegate?: () => unknown };
  const delegate = provider.getDelegate?.() as { forceFlush?: () => Promise<void> } | undefined;
  await delegate?.forceFlush?.();
}

/** Runs `task` over items with at most `window` in flight; returns elapsed ms. */
async function windowed<T>(items: T[], window: number, task: (item: T) => Promise<unknown>): Promise<number> {
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: window }, async () => {
      while (next < items.length) {
        const item = items[next++] as T;
        await task(item);
      }
    }),
  );
  return performance.now() - started;
}

/** Median of each figure over runs of one variant (undefined for no runs). */
function medianResult(runs: Result[]): Result | undefined {
  const first = runs[0];
  if (!first) return undefined;
  const mid = (pick: (r: Result) => number) => median(runs.map(pick));
  return {
    name: first.name,
    publishPerSec: mid((r) => r.publishPerSec),
    consumePerSec: mid((r) => r.consumePerSec),
    p50: mid((r) => r.p50),
    p99: mid((r) => r.p99),
  };
}

type Result = { name: string; publishPerSec: number; consumePerSec: number; p50: number; p99: number };

// Polled every 2 ms: the wait ends a timed run, so it must not add a probe interval of its own.
const BENCH_WAIT = { timeoutMs: 300_000, intervalMs: 2 };

/** Raw JetStream: what the bus is measured against. */
async function runRaw(events: AnyEvent[], latencyEvents: AnyEvent[], bus: Bus): Promise<Result> {
  // As the bus connects (createBus): without an Error captured per request for async stack traces.
  const nc = await connect({ servers: nats.url, noAsyncTraces: true });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const stream = bus.naming.stream(streams.tokens);
  const subject = bus.naming.subject("token.refreshed");
  const payloads = events.map((e) => ({ id: e.id, data: JSON.stringify(e) }));
  await jsm.streams.purge(stream);
  await jsm.consumers.add(stream, {
    durable_name: "bench-raw",
    ack_policy: "explicit",
    filter_subject: subject,
  });

  const publishMs = await windowed(payloads, PUBLISH_WINDOW, (p) =>
    js.publish(subject, p.data, { msgID: p.id }),
  );

  const consumer = await js.consumers.get(stream, "bench-raw");
  let handled = 0;
  const sent = new Map<string, number>();
  const latencies: number[] = [];
  const started = performance.now();
  let consumeMs = 0;
  const messages = await consumer.consume({ max_messages: RAW_PULL });
  void (async () => {
    for await (const m of messages) {
      const event = JSON.parse(new TextDecoder().decode(m.data)) as AnyEvent;
      m.ack();
      handled++;
      if (handled === events.length) consumeMs = performance.now() - started;
      const t0 = sent.get(event.id);
      if (t0 !== undefined) latencies.push(performance.now() - t0);
    }
  })();
  await waitFor(() => handled >= events.length, "raw consume", BENCH_WAIT);
  for (const e of latencyEvents) {
    sent.set(e.id, performance.now());
    await js.publish(subject, JSON.stringify(e), { msgID: e.id });
  }
  await waitFor(() => latencies.length >= latencyEvents.length, "raw latency", BENCH_WAIT);
  await messages.close();
  await nc.drain();
  latencies.sort((a, b) => a - b);
  return {
    name: "raw JetStream",
    publishPerSec: (events.length / publishMs) * 1000,
    consumePerSec: (events.length / consumeMs) * 1000,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
}

async function runBus(
  name: string,
  durable: string,
  events: AnyEvent[],
  latencyEvents: AnyEvent[],
  bus: Bus,
  effect?: (e: AnyEvent) => Promise<void>,
): Promise<Result> {
  // Every variant starts from an empty stream, so its durable sees only its own events.
  await bus.jsm.streams.purge(bus.naming.stream(streams.tokens));
  const publishMs = await windowed(events, PUBLISH_WINDOW, (e) => bus.publish(e));
  // Producer spans are exported by the publishing process in production, not by the consumer:
  // flush them now so their export does not count against the consume phase.
  await flushSpans();
  let handled = 0;
  let consumeMs = 0;
  const sent = new Map<string, number>();
  const latencies: number[] = [];
  const started = performance.now();
  const consumer = await bus.consume({
    durable,
    stream: "tokens",
    filterSubject: "token.refreshed",
    concurrency: CONCURRENCY,
    // The same pull size as the raw consumer, so both make the same number of pull requests.
    prefetch: RAW_PULL,
    handlers: {
      "token.refreshed": async (event) => {
        if (effect) await effect(event);
        handled++;
        if (handled === events.length) consumeMs = performance.now() - started;
        const t0 = sent.get(event.id);
        if (t0 !== undefined) latencies.push(performance.now() - t0);
      },
    },
  });
  await waitFor(() => handled >= events.length, `${name} consume`, BENCH_WAIT);
  for (const e of latencyEvents) {
    sent.set(e.id, performance.now());
    await bus.publish(e);
  }
  await waitFor(() => latencies.length >= latencyEvents.length, `${name} latency`, BENCH_WAIT);
  await consumer.stop();
  latencies.sort((a, b) => a - b);
  return {
    name,
    publishPerSec: (events.length / publishMs) * 1000,
    consumePerSec: (events.length / consumeMs) * 1000,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
}

async function main(): Promise<void> {
  const db = await createTestDatabase();
  const bus = await createBus({
    servers: nats.url,
    prefix: nats.prefix,
    name: "bench",
    logger,
    registry: new Registry(),
    streamOverrides: { ...nats.streamOverrides, maxBytes: 1024 * 1024 * 1024 },
  });
  try {
    await bus.provision();
    console.log(
      `bench:bus — ${N} events per variant, ${LATENCY_N} for latency, handler concurrency ${CONCURRENCY}`,
    );
    // Each run gets fresh events (message ids) so the duplicate window never hides work. Raw and
    // bus alternate over several rounds and the medians are compared: single runs on a shared
    // 2-core VM swing by ±30%.
    const variants = new Set(args.variants.split(","));
    const rawRuns: Result[] = [];
    const busRuns: Result[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      if (variants.has("raw")) rawRuns.push(await runRaw(makeEvents(N), makeEvents(LATENCY_N), bus));
      if (variants.has("bus"))
        busRuns.push(await runBus("bus", "bench-bus", makeEvents(N), makeEvents(LATENCY_N), bus));
      console.log(
        `round ${round}: ${[...rawRuns.slice(-1), ...busRuns.slice(-1)].map((r) => `${r.name} ${Math.round(r.consumePerSec)}/s`).join(", ")}`,
      );
    }
    const raw = medianResult(rawRuns);
    const plain = medianResult(busRuns);
    const inbox = variants.has("inbox")
      ? await runBus("bus + inbox", "bench-inbox", makeEvents(N), makeEvents(LATENCY_N), bus, async (e) => {
          await applyOnce(db.pool, "bench-inbox", e, async () => undefined);
        })
      : undefined;
    const results = [raw, plain, inbox].filter((r): r is Result => r !== undefined);
    const rows = results.map((r) => ({
      variant: r.name,
      "publish/s": Math.round(r.publishPerSec),
      "consume+ack/s": Math.round(r.consumePerSec),
      "vs raw consume": raw ? `${(r.consumePerSec / raw.consumePerSec).toFixed(2)}×` : "-",
      "p50 ms": r.p50.toFixed(2),
      "p99 ms": r.p99.toFixed(2),
    }));
    console.table(rows);
    if (raw && plain) {
      const ratio = plain.consumePerSec / raw.consumePerSec;
      console.log(
        `bus/raw consume+ack ratio ${ratio.toFixed(2)} (target ≥ 0.50): ${ratio >= 0.5 ? "met" : "NOT met"}`,
      );
    }
  } finally {
    await bus.close();
    await nats.cleanup();
    await db.drop();
  }
}

/** Parent: an OTLP/HTTP sink that accepts and discards spans, and the measured child. */
async function parent(): Promise<number> {
  let spanBytes = 0;
  const sink = createServer((req, res) => {
    req.on("data", (chunk: Buffer) => {
      spanBytes += chunk.length;
    });
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => sink.listen(0, "127.0.0.1", resolve));
  const address = sink.address();
  const port = typeof address === "object" && address ? address.port : 0;
  const child = spawn(
    process.execPath,
    ["--import", "@syncwell/telemetry/register", fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    {
      stdio: "inherit",
      env: {
        ...process.env,
        BENCH_CHILD: "1",
        OTEL_SDK_DISABLED: "false",
        OTEL_SERVICE_NAME: "bench-bus",
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      },
    },
  );
  const code = await new Promise<number>((resolve) => child.on("exit", (c) => resolve(c ?? 1)));
  sink.close();
  console.log(`spans exported to the sink: ${(spanBytes / 1024 / 1024).toFixed(1)} MiB of OTLP (protobuf)`);
  return code;
}

if (process.env.BENCH_CHILD) {
  await main();
  const { shutdownTelemetry } = await import("@syncwell/telemetry");
  await shutdownTelemetry();
} else {
  process.exitCode = await parent();
}
