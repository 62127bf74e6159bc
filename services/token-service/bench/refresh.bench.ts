/**
 * npm run bench:refresh [-- --connections 20000 --latency 50 --jitter 0 --replicas 1]
 *
 * One refresh tick, end to end, against real Postgres, NATS and HTTP: seeds N connections due for
 * refresh (spread over Google, Spotify, GitHub App, Discord, LinkedIn and Slack; the rotating ones
 * rotate) backed by grants in a provider simulator answering after SIM_LATENCY_MS (default 50 ms),
 * starts the token service as child process(es) (main.ts, with bench-sized streams from the env),
 * publishes one `tick.token-refresh` and times it until the
 * last `token.refreshed` arrives on the bus.
 *
 * Prints refreshes/s, the per-refresh latency p50/p99 (provider request start, from the simulator's
 * log, to the outcome committed, the event's occurredAt) and the token service's peak RSS (VmHWM).
 * Rate limits are raised out of the way (PROVIDER_*_RATE_LIMIT_PER_SEC=100000; the shared
 * Postgres limiter still runs): this measures the service, not a provider's quota.
 *
 * Fault scenarios (each prints `lost`, the replaced refresh tokens the simulator saw presented
 * again, which revoke the grant, and `allRefreshedMs`, the time until every connection was refreshed):
 *   --late-answers 0.3 [--late-ms 12000]   that share of answers arrives late, after the rotation
 *   --pg-cut 20000 [--pg-cut-after 2000]   Postgres is cut off (a proxy between the service and it)
 *                                          that long, starting that long after the tick
 *
 * The run is appended to bench-results/refresh.jsonl (`--no-record` or BENCH_RECORD=0: not).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createBus } from "@syncwell/bus";
import type { AnyEvent } from "@syncwell/contracts";
import { createSimulator } from "@syncwell/provider-simulator";
import { createLogger } from "@syncwell/telemetry";
import {
  benchRecordOption,
  createTestDatabase,
  createTestNats,
  finishedJobRun,
  freePort,
  percentile,
  processMemoryBytes,
  publishTick,
  startBenchRecord,
  startTcpProxy,
  waitFor,
} from "@syncwell/testing";
import { Registry } from "prom-client";
import type { ProviderId } from "../src/config.ts";
import { cipherFor, keyList, randomKey } from "../src/testing/fixtures.ts";
import { seedConnections, simulatorProviderEnv } from "../src/testing/refresh-support.ts";

const { values: args } = parseArgs({
  options: {
    connections: { type: "string", default: process.env.BENCH_CONNECTIONS ?? "20000" },
    latency: { type: "string", default: process.env.SIM_LATENCY_MS ?? "50" },
    jitter: { type: "string", default: process.env.SIM_LATENCY_JITTER_MS ?? "0" },
    replicas: { type: "string", default: "1" },
    concurrency: { type: "string", default: process.env.REFRESH_CONCURRENCY ?? "32" },
    /** Write a CPU profile of each token-service process into this directory. */
    "cpu-prof": { type: "string" },
    /** Print the service's progress log lines. */
    progress: { type: "boolean", default: false },
    "late-answers": { type: "string", default: "0" },
    "late-ms": { type: "string", default: "12000" },
    "pg-cut": { type: "string", default: "0" },
    "pg-cut-after": { type: "string", default: "2000" },
    ...benchRecordOption,
  },
  allowNegative: true,
});
const N = Number(args.connections);
const LATENCY = Number(args.latency);
const REPLICAS = Number(args.replicas);
const LATE_RATIO = Number(args["late-answers"]);
const PG_CUT_MS = Number(args["pg-cut"]);
for (const [name, value, ok] of [
  ["--late-answers", LATE_RATIO, LATE_RATIO >= 0 && LATE_RATIO <= 1],
  ["--late-ms", Number(args["late-ms"]), Number(args["late-ms"]) >= 0],
  ["--pg-cut", PG_CUT_MS, PG_CUT_MS >= 0],
  ["--pg-cut-after", Number(args["pg-cut-after"]), Number(args["pg-cut-after"]) >= 0],
] as const) {
  if (!ok || Number.isNaN(value)) {
    process.stderr.write(
      `${name}: expected a non-negative number${name === "--late-answers" ? " up to 1" : ""}\n`,
    );
    process.exit(64);
  }
}
const record = startBenchRecord("refresh", args);
const providers: ProviderId[] = ["google", "spotify", "github-app", "discord", "linkedin", "slack"];
const mainPath = fileURLToPath(new URL("../src/main.ts", import.meta.url));

const db = await createTestDatabase({ poolMax: 10 });
const nats = createTestNats("benchrefresh");
const sim = await createSimulator({ latencyMs: LATENCY, latencyJitterMs: Number(args.jitter) });
const key = randomKey();
const cipher = cipherFor({ k1: key }, "k1");
const children: ChildProcess[] = [];
const dbTarget = new URL(db.url);
const proxy = await startTcpProxy({ host: dbTarget.hostname, port: Number(dbTarget.port || 5432) });
const logger = createLogger({ service: "bench", level: "warn" });
const bus = await createBus({
  servers: nats.url,
  prefix: nats.prefix,
  name: "bench",
  logger,
  registry: new Registry(),
  streamOverrides: nats.streamOverrides,
});

try {
  await bus.provision();
  process.stdout.write(`seeding ${N} due connections (${providers.join(", ")}) …\n`);
  const seedStarted = performance.now();
  for (const [i, provider] of providers.entries()) {
    const count = Math.floor(N / providers.length) + (i < N % providers.length ? 1 : 0);
    await seedConnections(db.pool, cipher, sim, { provider, count, expiresInMs: 5 * 60_000 });
  }
  await db.pool.query("ANALYZE connections");
  process.stdout.write(`seeded in ${Math.round(performance.now() - seedStarted)} ms\n`);

  const received: AnyEvent[] = [];
  let lastAt = 0;
  const observer = await bus.consume({
    durable: "bench-observer",
    stream: "tokens",
    filterSubject: "token.>",
    concurrency: 256,
    prefetch: 2048,
    handlers: {
      "token.refreshed": async (event) => {
        received.push(event);
        lastAt = performance.now();
      },
      "token.failed": async (event) => {
        received.push(event);
        lastAt = performance.now();
      },
    },
  });

  const pids: number[] = [];
  const metricsUrls: string[] = [];
  for (let r = 0; r < REPLICAS; r++) {
    const port = await freePort();
    metricsUrls.push(`http://127.0.0.1:${port}/metrics`);
    const env = {
      ...process.env,
      // Through the proxy only when it is to be cut: it costs the bench process CPU.
      DATABASE_URL: PG_CUT_MS > 0 ? proxy.rewrite(db.url) : db.url,
      NATS_URL: nats.url,
      NATS_PREFIX: nats.prefix,
      HTTP_HOST: "127.0.0.1",
      HTTP_PORT: String(port),
      LOG_LEVEL: "info",
      TOKEN_SERVICE_API_TOKEN: "bench-api-token-0123456789",
      TOKEN_ENCRYPTION_KEYS: keyList({ k1: key }),
      TOKEN_ENCRYPTION_CURRENT_KEY: "k1",
      REFRESH_CONCURRENCY: args.concurrency,
      NATS_STREAM_MAX_BYTES: "512MiB",
      NATS_STREAM_MAX_AGE: "1h",
      ...simulatorProviderEnv(sim.url, { rateLimitPerSec: 100_000 }),
    };
    const profile = args["cpu-prof"] ? ["--cpu-prof", `--cpu-prof-dir=${args["cpu-prof"]}`] : [];
    const child = spawn(process.execPath, [...profile, mainPath], {
      env,
      stdio: ["ignore", "pipe", "inherit"],
    });
    children.push(child);
    let ready = false;
    createInterface({ input: child.stdout }).on("line", (line) => {
      if (line.includes('"msg":"token-service ready"')) ready = true;
      if (line.includes('"level":"error"') || line.includes('"level":"fatal"'))
        process.stderr.write(`${line}\n`);
      if (args.progress && line.includes('"msg":"token refresh in progress"'))
        process.stdout.write(`${line}\n`);
    });
    await waitFor(() => ready || undefined, "the token service to start", { timeoutMs: 30_000 });
    if (child.pid === undefined) throw new Error("no child pid");
    pids.push(child.pid);
  }
  process.stdout.write(`${REPLICAS} token-service replica(s) ready (pid ${pids.join(", ")})\n`);

  if (LATE_RATIO > 0) {
    sim.state.addFault({ ratio: LATE_RATIO }, { kind: "late_answer", ms: Number(args["late-ms"]) }, null);
  }
  const started = performance.now();
  const startedWall = Date.now();
  const jobRunId = await publishTick({ db: db.pool, bus }, "token-refresh", { source: "bench" });
  const outage = PG_CUT_MS > 0 ? cutPostgres(Number(args["pg-cut-after"]), PG_CUT_MS) : Promise.resolve();
  const allRefreshedMs = await untilAllRefreshed(new Date(startedWall), started);
  await outage;
  await waitFor(() => received.length >= N || undefined, `${N} token events`, { timeoutMs: 600_000 });
  const elapsedMs = lastAt - started;
  const run = await finishedJobRun(db.pool, jobRunId, 60_000);

  // Per refresh: the provider request's start (simulator log) to the outcome's commit (event time).
  const requestStart = new Map<string, number>();
  for (const entry of sim.state.requests()) {
    if (entry.connectionKey) requestStart.set(entry.connectionKey, Date.parse(entry.time));
  }
  const perRefresh = received
    .map((e) => {
      const start = requestStart.get((e.data as { connectionId: string }).connectionId);
      return start === undefined ? Number.NaN : Date.parse(e.occurredAt) - start;
    })
    .filter((ms) => Number.isFinite(ms))
    .sort((a, b) => a - b);
  const rss = pids.map((pid) => processMemoryBytes(pid, "VmHWM") / 1024 / 1024);
  // The token request alone, as the service measured it (its histogram's mean).
  let requestSeconds = 0;
  let requestCount = 0;
  const journalBuckets = new Map<number, number>();
  for (const url of metricsUrls) {
    const text = await (await fetch(url)).text();
    for (const line of text.split("\n")) {
      const m = /^syncwell_token_refresh_request_seconds_(sum|count)\{[^}]*\} ([\d.e+-]+)$/.exec(line);
      if (m?.[1] === "sum") requestSeconds += Number(m[2]);
      if (m?.[1] === "count") requestCount += Number(m[2]);
      const bucket = /^syncwell_token_refresh_journal_write_seconds_bucket\{le="([\d.e+-]+)"\} (\d+)$/.exec(
        line,
      );
      if (bucket) {
        const le = Number(bucket[1]);
        journalBuckets.set(le, (journalBuckets.get(le) ?? 0) + Number(bucket[2]));
      }
    }
  }
  const refreshed = received.filter((e) => e.type === "token.refreshed").length;
  const { rows: statuses } = await db.pool.query<{ status: string; n: number }>(
    "SELECT status, count(*)::int AS n FROM connections GROUP BY status ORDER BY status",
  );

  const result = {
    connections: N,
    replicas: REPLICAS,
    simulatorLatencyMs: LATENCY,
    refreshed,
    failed: received.length - refreshed,
    tickToLastEventMs: Math.round(elapsedMs),
    refreshesPerSec: Math.round((refreshed / elapsedMs) * 1000),
    perRefreshP50Ms: percentile(perRefresh, 50),
    perRefreshP99Ms: percentile(perRefresh, 99),
    providerRequestMeanMs: Math.round((requestSeconds / Math.max(1, requestCount)) * 1000),
    peakRssMiB: rss.map((m) => Math.round(m)),
    scenario: {
      lateAnswers: LATE_RATIO,
      lateMs: LATE_RATIO > 0 ? Number(args["late-ms"]) : 0,
      pgCutMs: PG_CUT_MS,
    },
    lost: sim.state.stats().reusedRefreshTokens,
    grantsRevokedForReuse: sim.state.stats().grantsRevokedForReuse,
    allRefreshedMs,
    journalWriteMs: journalWindow(journalBuckets),
    statuses: Object.fromEntries(statuses.map((r) => [r.status, r.n])),
    jobRun: { status: run.status, counts: run.counts, durationMs: run.durationMs },
    startedAt: new Date(startedWall).toISOString(),
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  record.finish({ figures: result });
  await observer.stop();
} finally {
  for (const child of children) child.kill("SIGTERM");
  await Promise.all(
    children.map(
      (c) => new Promise((resolve) => (c.exitCode !== null ? resolve(null) : c.once("exit", resolve))),
    ),
  );
  await bus.close();
  await proxy.close();
  await sim.close();
  await nats.cleanup();
  await db.drop();
}

/** Cuts the service off from Postgres `afterMs` after the tick, for `forMs`. */
async function cutPostgres(afterMs: number, forMs: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, afterMs));
  proxy.cut();
  process.stdout.write(`Postgres cut off for ${forMs} ms\n`);
  await new Promise((resolve) => setTimeout(resolve, forMs));
  proxy.restore();
  process.stdout.write("Postgres back\n");
}

/**
 * Milliseconds from the tick until every connection has been refreshed since `since` (or has been
 * lost: a connection that needs reauthorization is counted as done, and in `lost`).
 */
async function untilAllRefreshed(since: Date, started: number): Promise<number> {
  await waitFor(
    async () => {
      const { rows } = await db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM connections
         WHERE last_refreshed_at >= $1 OR status NOT IN ('connected', 'warning', 'rate_limited')`,
        [since],
      );
      return (rows[0]?.n ?? 0) >= N;
    },
    `all ${N} connections refreshed`,
    { timeoutMs: 900_000, intervalMs: 200 },
  );
  return Math.round(performance.now() - started);
}

/** Upper bounds (ms) of the p50 and p99 journal write windows, from the service's histogram. */
function journalWindow(buckets: Map<number, number>): {
  entries: number;
  p50AtMostMs: number;
  p99AtMostMs: number;
} {
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  const bound = (q: number) => {
    const hit = sorted.find(([, n]) => n >= total * q);
    return hit ? hit[0] * 1000 : Number.NaN;
  };
  return { entries: total, p50AtMostMs: bound(0.5), p99AtMostMs: bound(0.99) };
}
