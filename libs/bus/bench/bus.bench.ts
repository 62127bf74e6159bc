/**
 * npm run bench:bus [-- --events 20000 --latency-events 2000 --concurrency 16 --rounds 3 --variants raw,bus,inbox --users]
 *
 * Publishes and consumes the same token.refreshed events three ways against the real NATS server:
 * raw JetStream (publish with msgID, consume, ack), the Syncwell bus (validation, trace context,
 * spans, metrics, explicit ack), and the bus with an inbox write per event (a Postgres transaction
 * each). Prints publish and consume+ack rates, the bus/raw ratio, and publish-to-handle latency.
 *
 * Tracing is real: this file re-runs itself under `--import @syncwell/telemetry/register` with the
 * OTLP exporter pointed at a sink in this (parent) process, so span creation, context propagation
 * and batch export all count against the bus, and the sink's own work does not.
 *
 * `--users`: every variant runs on a nats-server of its own with the generated users and
 * permissions (npm run nats:config), as in compose and Kubernetes: the token service's user
 * publishes, the poller's user consumes under its own durable (poller-token-refreshed), and the
 * operator's user purges the stream between runs.
 *
 * The run is appended to bench-results/bus.jsonl (`--no-record` or BENCH_RECORD=0: not): the child
 * sends its figures to the parent, which adds the spans it received and records them.
 */
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { trace } from "@opentelemetry/api";
import { type AnyEvent, createEvent, natsInboxPrefix, streams } from "@syncwell/contracts";
import {
  benchRecordOption,
  createTestDatabase,
  createTestNats,
  median,
  percentile,
  type SecuredNats,
  startBenchRecord,
  startSecuredNats,
  waitFor,
} from "@syncwell/testing";
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
    users: { type: "boolean", default: false },
    ...benchRecordOption,
  },
  allowNegative: true,
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

/** What a run measured, as the table and the ratio print it: recorded in bench-results/bus.jsonl. */
function runFigures(results: Result[], rounds: { raw: Result[]; bus: Result[] }, raw?: Result, bus?: Result) {
  return {
    variants: results.map((r) => ({
      variant: r.name,
      publishPerSec: r.publishPerSec,
      consumePerSec: r.consumePerSec,
      vsRawConsume: raw ? r.consumePerSec / raw.consumePerSec : null,
      p50Ms: r.p50,
      p99Ms: r.p99,
    })),
    rounds: Array.from({ length: Math.max(rounds.raw.length, rounds.bus.length) }, (_, i) => ({
      rawConsumePerSec: rounds.raw[i]?.consumePerSec ?? null,
      busConsumePerSec: rounds.bus[i]?.consumePerSec ?? null,
    })),
    busRawConsumeRatio: raw && bus ? bus.consumePerSec / raw.consumePerSec : null,
    targetRatio: 0.5,
  };
}

// Polled every 2 ms: the wait ends a timed run, so it must not add a probe interval of its own.
const BENCH_WAIT = { timeoutMs: 300_000, intervalMs: 2 };

/**
 * Who does what in a run. Without --users one unauthenticated bus does everything; with it the
 * publisher, the consumer and the admin are the token service's, the poller's and the operator's
 * users, and every variant consumes under the poller's durable (the only one it may create).
 */
type Setup = {
  url: string;
  admin: Bus;
  publisher: Bus;
  consumer: Bus;
  /** Credentials of a raw connection that publishes, or that consumes. */
  rawCredentials(role: "publisher" | "consumer"): { user?: string; pass?: string; inboxPrefix?: string };
  /** Durable name of a variant, removed first when variants share one. */
  durable(variant: string): Promise<string>;
  close(): Promise<void>;
};

const POLLER_DURABLE = "poller-token-refreshed";

async function benchBus(url: string, name: string, credentials: { user?: string; password?: string } = {}) {
  return createBus({
    servers: url,
    prefix: nats.prefix,
    name,
    logger,
    registry: new Registry(),
    // The own server of --users keeps its store small: JetStream reserves max bytes up front.
    streamOverrides: { ...nats.streamOverrides, maxBytes: (args.users ? 128 : 1024) * 1024 * 1024 },
    ...credentials,
  });
}

async function plainSetup(): Promise<Setup> {
  const bus = await benchBus(nats.url, "bench");
  await bus.provision();
  return {
    url: nats.url,
    admin: bus,
    publisher: bus,
    consumer: bus,
    rawCredentials: () => ({}),
    durable: async (variant) => `bench-${variant}`,
    close: () => bus.close(),
  };
}

async function usersSetup(server: SecuredNats): Promise<Setup> {
  const as = (user: string) => benchBus(server.url, `bench-${user}`, server.credentials(user));
  const admin = await as("operator");
  await admin.provision();
  const [publisher, consumer] = await Promise.all([as("token-service"), as("poller")]);
  const userOf = { publisher: "token-service", consumer: "poller" } as const;
  return {
    url: server.url,
    admin,
    publisher,
    consumer,
    rawCredentials(role) {
      const { user, password } = server.credentials(userOf[role]);
      return { user, pass: password, inboxPrefix: natsInboxPrefix(user) };
    },
    async durable() {
      const stream = admin.naming.stream(streams.tokens);
      await admin.jsm.consumers.delete(stream, POLLER_DURABLE).catch(() => undefined);
      return POLLER_DURABLE;
    },
    async close() {
      await Promise.all([publisher.close(), consumer.close()]);
      await admin.close();
    },
  };
}

/** Raw JetStream: what the bus is measured against. */
async function runRaw(events: AnyEvent[], latencyEvents: AnyEvent[], setup: Setup): Promise<Result> {
  // As the bus connects (createBus): without an Error captured per request for async stack traces.
  const connectAs = (role: "publisher" | "consumer") =>
    connect({ servers: setup.url, noAsyncTraces: true, ...setup.rawCredentials(role) });
  const pubNc = await connectAs("publisher");
  const subNc = args.users ? await connectAs("consumer") : pubNc;
  const js = jetstream(pubNc);
  const consumerJs = jetstream(subNc);
  const jsm = await jetstreamManager(subNc);
  const stream = setup.admin.naming.stream(streams.tokens);
  const subject = setup.admin.naming.subject("token.refreshed");
  const payloads = events.map((e) => ({ id: e.id, data: JSON.stringify(e) }));
  await setup.admin.jsm.streams.purge(stream);
  const durable = await setup.durable("raw");
  await jsm.consumers.add(stream, {
    durable_name: durable,
    ack_policy: "explicit",
    filter_subject: subject,
  });

  const publishMs = await windowed(payloads, PUBLISH_WINDOW, (p) =>
    js.publish(subject, p.data, { msgID: p.id }),
  );

  const consumer = await consumerJs.consumers.get(stream, durable);
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
  await pubNc.drain();
  if (subNc !== pubNc) await subNc.drain();
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
  variant: string,
  events: AnyEvent[],
  latencyEvents: AnyEvent[],
  setup: Setup,
  effect?: (e: AnyEvent) => Promise<void>,
): Promise<Result> {
  // Every variant starts from an empty stream, so its durable sees only its own events.
  const stream = setup.admin.naming.stream(streams.tokens);
  await setup.admin.jsm.streams.purge(stream);
  const durable = await setup.durable(variant);
  // The durable exists before the stream is filled: one the bus creates starts at new messages.
  await setup.consumer.jsm.consumers.info(stream, durable).catch(() =>
    setup.consumer.jsm.consumers.add(stream, {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: setup.consumer.naming.subject("token.refreshed"),
    }),
  );
  const publishMs = await windowed(events, PUBLISH_WINDOW, (e) => setup.publisher.publish(e));
  // Producer spans are exported by the publishing process in production, not by the consumer:
  // flush them now so their export does not count against the consume phase.
  await flushSpans();
  let handled = 0;
  let consumeMs = 0;
  const sent = new Map<string, number>();
  const latencies: number[] = [];
  const started = performance.now();
  const consumer = await setup.consumer.consume({
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
    await setup.publisher.publish(e);
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

async function main(): Promise<ReturnType<typeof runFigures>> {
  const db = await createTestDatabase();
  const server = args.users ? await startSecuredNats(nats.prefix) : undefined;
  const setup = server ? await usersSetup(server) : await plainSetup();
  try {
    console.log(
      `bench:bus — ${N} events per variant, ${LATENCY_N} for latency, handler concurrency ${CONCURRENCY}${server ? ", per-service NATS users (own nats-server with the generated configuration)" : ""}`,
    );
    // Each run gets fresh events (message ids) so the duplicate window never hides work. Raw and
    // bus alternate over several rounds and the medians are compared: on a shared machine a single
    // run says little (docs/decisions/0012).
    const variants = new Set(args.variants.split(","));
    const rawRuns: Result[] = [];
    const busRuns: Result[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      if (variants.has("raw")) rawRuns.push(await runRaw(makeEvents(N), makeEvents(LATENCY_N), setup));
      if (variants.has("bus"))
        busRuns.push(await runBus("bus", "bus", makeEvents(N), makeEvents(LATENCY_N), setup));
      console.log(
        `round ${round}: ${[...rawRuns.slice(-1), ...busRuns.slice(-1)].map((r) => `${r.name} ${Math.round(r.consumePerSec)}/s`).join(", ")}`,
      );
    }
    const raw = medianResult(rawRuns);
    const plain = medianResult(busRuns);
    const inbox = variants.has("inbox")
      ? await runBus("bus + inbox", "inbox", makeEvents(N), makeEvents(LATENCY_N), setup, async (e) => {
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
    return runFigures(results, { raw: rawRuns, bus: busRuns }, raw, plain);
  } finally {
    await setup.close();
    await server?.stop();
    await nats.cleanup();
    await db.drop();
  }
}

/** Parent: an OTLP/HTTP sink that accepts and discards spans, and the measured child. */
async function parent(): Promise<number> {
  const record = startBenchRecord("bus", args);
  let spanBytes = 0;
  const sink = createServer((req, res) => {
    req.on("data", (chunk: Buffer) => {
      spanBytes += chunk.length;
    });
    req.on("end", () => {
      // An empty protobuf ExportTraceServiceResponse: what the exporter sends is protobuf, and it
      // parses the answer as such.
      res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
    });
  });
  await new Promise<void>((resolve) => sink.listen(0, "127.0.0.1", resolve));
  const address = sink.address();
  const port = typeof address === "object" && address ? address.port : 0;
  const child = spawn(
    process.execPath,
    ["--import", "@syncwell/telemetry/register", fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    {
      // The IPC channel carries the child's figures back.
      stdio: ["inherit", "inherit", "inherit", "ipc"],
      env: {
        ...process.env,
        BENCH_CHILD: "1",
        OTEL_SDK_DISABLED: "false",
        OTEL_SERVICE_NAME: "bench-bus",
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      },
    },
  );
  let figures: Record<string, unknown> | undefined;
  child.on("message", (message: Record<string, unknown>) => {
    figures = message;
  });
  // "close", not "exit": it comes after the IPC channel has delivered the figures.
  const code = await new Promise<number>((resolve) => child.on("close", (c) => resolve(c ?? 1)));
  sink.close();
  console.log(`spans exported to the sink: ${(spanBytes / 1024 / 1024).toFixed(1)} MiB of OTLP (protobuf)`);
  if (code === 0 && figures) record.finish({ figures: { ...figures, spansMiB: spanBytes / 1024 / 1024 } });
  return code;
}

if (process.env.BENCH_CHILD) {
  const figures = await main();
  const { shutdownTelemetry } = await import("@syncwell/telemetry");
  await shutdownTelemetry();
  await new Promise<void>((resolve, reject) =>
    process.send
      ? process.send(figures, (error: Error | null) => (error ? reject(error) : resolve()))
      : resolve(),
  );
  process.disconnect?.();
} else {
  process.exitCode = await parent();
}
