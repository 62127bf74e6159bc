/**
 * npm run bench:poll [-- --connections 10000 --items 20 --latency 50 --concurrency 256 --platform-concurrency 128
 *                       --node-flags='--max-semi-space-size=64' --profile /tmp/prof --log-statements --explain 50
 *                       --setup 'SQL run after seeding' --warmup 600 --platforms gmail,calendar --runs 3]
 *
 * The poller end to end, as production runs it: the service process (`services/poller/src/main.ts`,
 * real connectors) against the provider simulator (its own process, SIM_LATENCY_MS per request,
 * no data rate limit), Postgres and NATS. N connections spread over the six platforms, each resource
 * holding `--items` items none of which the poller has seen (a first sync: one page of new items;
 * Gmail also fetches each message). Google connections correspond with five known contacts, so
 * communication events are created as well.
 *
 * A first tick over `--warmup` other connections warms the poller up, untimed, as a service that has
 * been running is (its first seconds otherwise run cold code against cold plans and connections).
 * Then the N connections are seeded, and the bench measures from publishing tick.poll to the last
 * data.ingested arriving on NATS: connections/s,
 * records stored/s, per-poll latency (p50/p99 from each sync state's poll start to its success),
 * the poller process's peak RSS (VmHWM), and the CPU each process used (and the whole machine,
 * which other work may share). Tracing is off in the poller (OTEL_SDK_DISABLED). The concurrency
 * defaults here are a replica sized for a 10,000-connection tick (the service defaults, 64 and 32,
 * suit a replica among several), with the young generation the README gives such a replica.
 * The run (every timed tick and their median) is appended to bench-results/poll.jsonl
 * (`--no-record` or BENCH_RECORD=0: not).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import { createBus } from "@syncwell/bus";
import { createTokenCipher, parseKeyList } from "@syncwell/credentials";
import { databaseNow, findJobRun } from "@syncwell/db";
import { SimulatorControl } from "@syncwell/provider-simulator";
import { createLogger } from "@syncwell/telemetry";
import {
  benchRecordOption,
  CpuTracker,
  createTestDatabase,
  createTestNats,
  formatReference,
  freePort,
  logSlowStatements,
  machineSeconds,
  median,
  percentile,
  postgresBackends,
  processMemoryBytes,
  publishTick,
  referenceWork,
  startBenchRecord,
  waitFor,
} from "@syncwell/testing";
import type pg from "pg";
import { finishSeeding, insertContacts, insertUsers } from "./seed.ts";

/** A young generation for pages of 256 polls in flight (services/poller/README.md, Configuration). */
const REPLICA_256_NODE_FLAGS = ["--max-semi-space-size=128", "--min-semi-space-size=128"];

const { values: args } = parseArgs({
  options: {
    connections: { type: "string", default: "10000" },
    items: { type: "string", default: "20" },
    latency: { type: "string", default: "50" },
    concurrency: { type: "string", default: "256" },
    "platform-concurrency": { type: "string", default: "128" },
    /** Writes V8 CPU profiles of the poller and the simulator to `<dir>/poller` and `<dir>/simulator`. */
    profile: { type: "string" },
    /**
     * Node flags of the poller process: by default those services/poller/README.md gives a replica
     * of 256 slots (the image's entrypoint sets a 64 MB semi-space, for its default 64).
     */
    "node-flags": { type: "string", default: REPLICA_256_NODE_FLAGS.join(" ") },
    /** Logs every statement of the bench database (Postgres server log), for a breakdown afterwards. */
    "log-statements": { type: "boolean", default: false },
    /** Logs the plans (EXPLAIN ANALYZE) of statements slower than this many ms (auto_explain). */
    explain: { type: "string" },
    /** SQL run after seeding, to try a change (an index, a setting) against the same data. */
    setup: { type: "string" },
    /**
     * Connections of a first, untimed tick that warms the poller up (V8's compiled code, Postgres
     * plans, pooled and keep-alive connections), as a service in production is; 0 times a cold start.
     */
    warmup: { type: "string", default: "600" },
    platforms: { type: "string" },
    /**
     * Timed ticks, each over N newly seeded connections, and their median: a shared VM's speed
     * swings within minutes, so one run says little (docs/decisions/0013).
     */
    runs: { type: "string", default: "1" },
    ...benchRecordOption,
  },
  allowNegative: true,
});
const N = Number(args.connections);
const ITEMS = Number(args.items);
const LATENCY = Number(args.latency);
const WARMUP = Number(args.warmup);
const RUNS = Number(args.runs);
if (!Number.isInteger(RUNS) || RUNS < 1)
  throw new Error(`--runs takes a whole number ≥ 1, not "${args.runs}"`);
const root = fileURLToPath(new URL("../../../", import.meta.url));
const record = startBenchRecord("poll", args);

/** One kind of connection per platform: the provider and the scopes that give it one resource each (GitHub: two). */
const allKinds = [
  {
    platform: "gmail",
    provider: "google",
    scopes: ["https://www.googleapis.com/auth/gmail.readonly"],
    polls: 1,
  },
  {
    platform: "calendar",
    provider: "google",
    scopes: ["https://www.googleapis.com/auth/calendar.readonly"],
    polls: 1,
  },
  {
    platform: "youtube",
    provider: "google",
    scopes: ["https://www.googleapis.com/auth/youtube.readonly"],
    polls: 1,
  },
  { platform: "spotify", provider: "spotify", scopes: ["user-read-recently-played"], polls: 1 },
  { platform: "github", provider: "github", scopes: ["repo", "read:user"], polls: 2 },
  { platform: "discord", provider: "discord", scopes: ["identify", "guilds"], polls: 1 },
] as const;
/** `--platforms gmail,github`: only those platforms' connections (what each costs on its own). */
const kinds = allKinds.filter(
  (k) => args.platforms === undefined || args.platforms.split(",").includes(k.platform),
);
if (kinds.length === 0) {
  throw new Error(`--platforms takes a list of ${allKinds.map((k) => k.platform).join(", ")}`);
}

const CONTACTS = [
  "Ann Lee <Ann.Lee@Example.COM>",
  "bob@partner.io",
  "Carla.Diaz@Client.org",
  "dev@vendor.net",
  "Eve <eve@x.io>",
];
const contactEmails = [
  "ann.lee@example.com",
  "bob@partner.io",
  "carla.diaz@client.org",
  "dev@vendor.net",
  "eve@x.io",
];

function startProcess(
  label: string,
  argv: string[],
  env: Record<string, string>,
): ChildProcess & { output: () => string } {
  const child = spawn(process.execPath, argv, {
    cwd: root,
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const keep = (d: Buffer) => {
    output = (output + String(d)).slice(-20_000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  child.on("exit", (code, signal) => {
    if (code !== 0 && code !== null) process.stderr.write(`${label} exited with ${code}:\n${output}\n`);
    else if (signal && signal !== "SIGTERM" && signal !== "SIGKILL")
      process.stderr.write(`${label} killed by ${signal}\n`);
  });
  return Object.assign(child, { output: () => output });
}

async function windowed<T>(
  list: readonly T[],
  window: number,
  task: (item: T, i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: window }, async () => {
      while (next < list.length) {
        const i = next++;
        await task(list[i] as T, i);
      }
    }),
  );
}

/** data.ingested per second of the run, e.g. "12 340 512 …": where the run ramps up and tails off. */
function timeline(arrivalsMs: readonly number[], startMs: number): string {
  const perSecond: number[] = [];
  for (const at of arrivalsMs) {
    const second = Math.max(0, Math.floor((at - startMs) / 1000));
    perSecond[second] = (perSecond[second] ?? 0) + 1;
  }
  return Array.from(perSecond, (n) => n ?? 0).join(" ");
}

/** What a run cost: CPU seconds of each process and of the machine, WAL written, the poller's memory. */
type RunCosts = {
  cpu: { poller: number; simulator: number; postgres: number; machine: number; steal: number };
  walBytes: number;
  /** The poller's largest RSS among the samples (its VmHWM is read as well). */
  peakRssSampled: number;
  /** The machine's load averages at the end. */
  load: string;
};

/** Starts measuring what a run costs; `stop()` ends it as soon as the run's last event arrived. */
async function measureCosts(
  pool: pg.Pool,
  measured: { poller: number; simulator: number; database: string },
): Promise<{ stop(): Promise<RunCosts> }> {
  // A checkpoint now rather than one starting mid-run (earlier runs' WAL can be close to
  // max_wal_size): after a checkpoint every page's first change is logged whole, which would make
  // one run differ from the next.
  await pool.query("CHECKPOINT");
  // WAL the whole server writes during the run (this database's share on a quiet server).
  const walStart = (await pool.query<{ lsn: string }>("SELECT pg_current_wal_lsn()::text AS lsn")).rows[0]
    ?.lsn;
  const cpuOf = {
    poller: new CpuTracker(() => [measured.poller]),
    simulator: new CpuTracker(() => [measured.simulator]),
    // Pools open and close backends during the run: sampled, so one that exits still counts.
    postgres: new CpuTracker(() => postgresBackends(measured.database)),
  };
  const machineBefore = machineSeconds();
  let peakRssSampled = 0;
  const sampler = setInterval(() => {
    peakRssSampled = Math.max(peakRssSampled, processMemoryBytes(measured.poller, "VmRSS"));
    cpuOf.postgres.sample();
  }, 200);
  return {
    async stop() {
      clearInterval(sampler);
      const { rows } = await pool.query<{ bytes: string }>(
        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::text AS bytes",
        [walStart],
      );
      const machineAfter = machineSeconds();
      const cpu = {
        poller: cpuOf.poller.seconds(),
        simulator: cpuOf.simulator.seconds(),
        postgres: cpuOf.postgres.seconds(),
        machine: machineAfter.busy - machineBefore.busy,
        steal: machineAfter.steal - machineBefore.steal,
      };
      const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
      return { cpu, walBytes: Number(rows[0]?.bytes ?? 0), peakRssSampled, load };
    },
  };
}

/** What the timed tick stored and polled (not the warm-up's), once its job run has finished. */
async function storedByRun(pool: pg.Pool, jobRunId: string, tickAt: Date) {
  await waitFor(
    async () => (await findJobRun(pool, jobRunId))?.status !== "running",
    "the job run to finish",
    {
      timeoutMs: 120_000,
    },
  );
  const run = await findJobRun(pool, jobRunId);
  const stats = await pool.query<{ records: number; comms: number }>(
    `SELECT (SELECT count(*)::int FROM raw_records WHERE first_seen_at >= $1) AS records,
            (SELECT count(*)::int FROM communication_events WHERE created_at >= $1) AS comms`,
    [tickAt],
  );
  const durations = await pool.query<{ ms: number }>(
    `SELECT extract(epoch FROM last_success_at - poll_started_at)::float8 * 1000 AS ms
     FROM sync_states WHERE last_success_at IS NOT NULL AND poll_started_at >= $1 ORDER BY 1`,
    [tickAt],
  );
  const sizes = await pool.query<{ platform: string; avg: number; compressed: number; method: string }>(
    `SELECT platform, avg(octet_length(payload::text))::int AS avg,
       count(*) FILTER (WHERE pg_column_compression(payload) IS NOT NULL)::int AS compressed,
       string_agg(DISTINCT pg_column_compression(payload), '/') AS method
     FROM raw_records GROUP BY 1 ORDER BY 1`,
  );
  return {
    run,
    records: stats.rows[0]?.records ?? 0,
    comms: stats.rows[0]?.comms ?? 0,
    /** Each poll's time from its start to its success, ascending. */
    pollMs: durations.rows.map((r) => r.ms),
    payloadSizes: sizes.rows,
  };
}

/** What one timed tick measured: the figures it prints, as recorded in bench-results/poll.jsonl. */
function tickFigures(tick: {
  elapsedS: number;
  firstS: number;
  stored: Awaited<ReturnType<typeof storedByRun>>;
  spent: RunCosts;
  rssStartBytes: number;
  rssPeakBytes: number;
  perSecond: string;
  lastByResourceS: Record<string, number>;
}) {
  const { stored, spent, elapsedS } = tick;
  return {
    resourcePolls: stored.pollMs.length,
    failed: stored.run?.counts.failed ?? null,
    jobRunStatus: stored.run?.status ?? null,
    tickToLastIngestedS: elapsedS,
    firstIngestedS: tick.firstS,
    connectionsPerS: N / elapsedS,
    recordsPerS: stored.records / elapsedS,
    records: stored.records,
    communicationEvents: stored.comms,
    pollP50Ms: percentile(stored.pollMs, 50),
    pollP99Ms: percentile(stored.pollMs, 99),
    pollMaxMs: stored.pollMs.at(-1) ?? 0,
    ingestedPerSecond: tick.perSecond.split(" ").map(Number),
    lastByResourceS: tick.lastByResourceS,
    payloads: stored.payloadSizes,
    walBytes: spent.walBytes,
    pollerRssStartBytes: tick.rssStartBytes,
    pollerRssPeakBytes: tick.rssPeakBytes,
    cpuS: spent.cpu,
    loadAverageAtEnd: spent.load.split(" ").map(Number),
  };
}

const logger = createLogger({ service: "poll-bench", level: "warn" });
const nats = createTestNats("pollbench");
const db = await createTestDatabase({ poolMax: 10 });
const children: ChildProcess[] = [];

try {
  // Measured first, while the machine is quiet.
  const reference = await referenceWork(db.pool);
  // The simulator, in a process of its own.
  const simPort = await freePort();
  const sim = startProcess(
    "provider simulator",
    [
      ...(args.profile ? ["--cpu-prof", `--cpu-prof-dir=${args.profile}/simulator`] : []),
      // The stand-in for six platforms shares the two cores with what is measured: the poller's
      // young generation cuts its garbage collection too.
      ...REPLICA_256_NODE_FLAGS,
      "tools/provider-simulator/src/main.ts",
    ],
    {
      PORT: String(simPort),
      SIM_LATENCY_MS: String(LATENCY),
      SIM_DATA_ITEMS_MIN: String(ITEMS),
      SIM_DATA_ITEMS_MAX: String(ITEMS),
      SIM_DATA_CACHE_SIZE: String(RUNS * N + WARMUP + 1_000),
      SIM_REQUEST_LOG_SIZE: "1000",
      LOG_LEVEL: "warn",
    },
  );
  children.push(sim);
  const simUrl = `http://127.0.0.1:${simPort}`;
  await waitFor(
    async () => (await fetch(`${simUrl}/healthz`).catch(() => null))?.ok === true,
    "the simulator",
    { timeoutMs: 30_000 },
  );
  const control = new SimulatorControl(simUrl);

  // Grants at the simulator, connections (encrypted tokens) and contacts in Postgres.
  const keyB64 = randomBytes(32).toString("base64");
  const cipher = createTokenCipher(parseKeyList(`k1:${keyB64}`), "k1");
  /** Seeds `count` connections (simulator keys `<label>-<i>`); resolves to the resource polls they make. */
  const seed = async (label: string, count: number): Promise<number> => {
    process.stdout.write(`seeding ${count} ${label} connections…\n`);
    const seedStarted = performance.now();
    const rows: Array<{
      id: string;
      userId: string;
      provider: string;
      scopes: string[];
      token: string;
      expiresAt: string;
    }> = [];
    let polls = 0;
    await windowed(
      Array.from({ length: count }, (_, i) => i),
      64,
      async (i) => {
        const kind = kinds[i % kinds.length] as (typeof kinds)[number];
        const connectionKey = `${label}-${i}`;
        // The platform's data exists before the tick, as a real platform's does: generating it is
        // the simulator's work, not the poller's, and stays out of the timed window.
        const grant = await control.createGrant({
          provider: kind.provider,
          connectionKey,
          generateData: true,
        });
        if (kind.provider === "google" && kind.platform !== "youtube") {
          await control.setParticipants({ connectionKey, participants: CONTACTS });
        }
        rows[i] = {
          id: randomUUID(),
          userId: randomUUID(),
          provider: kind.provider,
          scopes: [...kind.scopes],
          token: cipher.encrypt(grant.accessToken),
          expiresAt: grant.accessTokenExpiresAt,
        };
      },
    );
    for (let i = 0; i < count; i++) polls += (kinds[i % kinds.length] as (typeof kinds)[number]).polls;
    for (let start = 0; start < count; start += 1_000) {
      const chunk = rows.slice(start, start + 1_000);
      await insertUsers(
        db.pool,
        chunk.map((r) => r.userId),
      );
      await db.pool.query(
        `INSERT INTO connections (id, user_id, provider, scopes, access_token_encrypted, token_key_id, access_token_expires_at)
         SELECT t.id, t.user_id, t.provider, ARRAY(SELECT jsonb_array_elements_text(t.scopes)), t.token, 'k1', t.expires_at
         FROM jsonb_to_recordset($1::jsonb) AS t(id uuid, user_id uuid, provider text, scopes jsonb, token text, expires_at timestamptz)`,
        [
          JSON.stringify(
            chunk.map((r) => ({
              id: r.id,
              user_id: r.userId,
              provider: r.provider,
              scopes: r.scopes,
              token: r.token,
              expires_at: r.expiresAt,
            })),
          ),
        ],
      );
      const googleUsers = chunk.filter((r) => r.provider === "google").map((r) => r.userId);
      await insertContacts(db.pool, googleUsers, contactEmails);
    }
    process.stdout.write(`seeded in ${((performance.now() - seedStarted) / 1000).toFixed(1)} s\n`);
    return polls;
  };
  // Without a warm-up the timed connections are seeded now; with one, after its tick (a tick
  // polls every due connection there is).
  const warmupPolls = await seed(WARMUP > 0 ? "warmup" : "bench", WARMUP > 0 ? WARMUP : N);
  await finishSeeding(db.pool, args.setup);

  await logSlowStatements(db, {
    logStatements: args["log-statements"],
    explainMs: args.explain === undefined ? undefined : Number(args.explain),
  });
  if (args["log-statements"])
    process.stdout.write(`logging every statement of ${db.name} to the Postgres server log\n`);
  if (args.explain !== undefined)
    process.stdout.write(
      `logging plans of ${db.name}'s statements slower than ${args.explain} ms (auto_explain)\n`,
    );

  // The poller service, as production starts it.
  const pollerPort = await freePort();
  const platformEnv: Record<string, string> = {};
  for (const { platform } of allKinds) {
    platformEnv[`PLATFORM_${platform.toUpperCase()}_API_URL`] = `${simUrl}/${platform}`;
    platformEnv[`PLATFORM_${platform.toUpperCase()}_RATE_LIMIT_PER_SEC`] = "100000";
  }
  const poller = startProcess(
    "poller",
    [
      ...(args.profile ? ["--cpu-prof", `--cpu-prof-dir=${args.profile}/poller`] : []),
      ...(args["node-flags"] ? args["node-flags"].split(" ").filter(Boolean) : []),
      "--import",
      "@syncwell/telemetry/register",
      "services/poller/src/main.ts",
    ],
    {
      DATABASE_URL: db.url,
      NATS_URL: nats.url,
      NATS_PREFIX: nats.prefix,
      HTTP_HOST: "127.0.0.1",
      HTTP_PORT: String(pollerPort),
      LOG_LEVEL: "warn",
      OTEL_SDK_DISABLED: "true",
      TOKEN_ENCRYPTION_KEYS: `k1:${keyB64}`,
      TOKEN_ENCRYPTION_CURRENT_KEY: "k1",
      POLL_CONCURRENCY: args.concurrency,
      POLL_PLATFORM_CONCURRENCY: args["platform-concurrency"],
      // The simulator's generated mail lies up to a year back: the first sync takes all of it.
      POLL_FIRST_SYNC_WINDOW: "17520h",
      ...platformEnv,
    },
  );
  children.push(poller);
  await waitFor(
    async () => (await fetch(`http://127.0.0.1:${pollerPort}/readyz`).catch(() => null))?.ok === true,
    `the poller (${poller.output()})`,
    { timeoutMs: 60_000 },
  );
  const pid = poller.pid as number;
  const rssAtStart = processMemoryBytes(pid, "VmRSS");

  const nc = await connect({ servers: nats.url });
  let ingested = 0;
  let lastAt = 0;
  let firstAt = 0;
  /** When each data.ingested arrived (performance.now()), for the per-second timeline. */
  const arrivals: number[] = [];
  /** When each resource's last data.ingested arrived: the one the run waits for at its end. */
  const lastByResource = new Map<string, number>();
  const subscription = nc.subscribe(`${nats.prefix}.data.ingested`, {
    callback: (_err, msg) => {
      ingested += 1;
      lastAt = performance.now();
      arrivals.push(lastAt);
      if (ingested === 1) firstAt = lastAt;
      try {
        const resource = (msg.json() as { data?: { resource?: unknown } }).data?.resource;
        if (typeof resource === "string") lastByResource.set(resource, lastAt);
      } catch {
        // not JSON: counted, without a resource
      }
    },
  });
  await nc.flush();

  const bus = await createBus({ servers: nats.url, prefix: nats.prefix, name: "bench", logger });
  const tick = (slot: Date) => publishTick({ db: db.pool, bus }, "poll", { slot, source: "bench" });
  let expectedPolls = warmupPolls;
  if (WARMUP > 0) {
    process.stdout.write(`warming up: a tick over ${WARMUP} connections…\n`);
    const warmupStarted = performance.now();
    const warmupRun = await tick(new Date(Date.now() - 60_000));
    await waitFor(() => ingested >= warmupPolls, "the warm-up's data.ingested", { timeoutMs: 300_000 });
    await waitFor(
      async () => (await findJobRun(db.pool, warmupRun))?.status !== "running",
      "the warm-up run",
      {
        timeoutMs: 60_000,
      },
    );
    process.stdout.write(`warmed up in ${((performance.now() - warmupStarted) / 1000).toFixed(1)} s\n`);
  }
  /** Counters of data.ingested back to zero and, unless the first round's are there, N new connections. */
  const prepareRound = async (round: number): Promise<void> => {
    if (WARMUP > 0 || round > 1) {
      ingested = 0;
      arrivals.length = 0;
      lastByResource.clear();
      expectedPolls = await seed(round > 1 ? `bench${round}` : "bench", N);
      await db.pool.query("ANALYZE");
    }
  };
  /** Waits for every poll's data.ingested, printing the progress every 5 s. */
  const waitForEveryIngested = async (started: number): Promise<void> => {
    let lastReport = started;
    await waitFor(
      () => {
        if (performance.now() - lastReport > 5_000) {
          lastReport = performance.now();
          process.stdout.write(
            `  ${ingested}/${expectedPolls} data.ingested after ${((lastReport - started) / 1000).toFixed(1)} s\n`,
          );
        }
        return ingested >= expectedPolls;
      },
      "every data.ingested",
      { timeoutMs: 600_000 },
    );
  };
  /**
   * One timed tick over the connections seeded for it (without a warm-up, the first round's were
   * seeded at the start); prints its report, returns its figures.
   */
  const timedRun = async (round: number): Promise<ReturnType<typeof tickFigures>> => {
    await prepareRound(round);
    process.stdout.write(`polling ${expectedPolls} resources of ${N} connections…\n`);
    const costs = await measureCosts(db.pool, {
      poller: pid,
      simulator: sim.pid as number,
      database: db.name,
    });
    // Rounded down: every row the tick writes is at or after it.
    const tickAt = await databaseNow(db.pool, "down");
    const started = performance.now();
    const jobRunId = await tick(new Date());
    await waitForEveryIngested(started);
    const spent = await costs.stop();
    const elapsedS = (lastAt - started) / 1000;
    const stored = await storedByRun(db.pool, jobRunId, tickAt);
    const peak = Math.max(processMemoryBytes(pid, "VmHWM"), spent.peakRssSampled);
    const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
    const { cpu } = spent;
    const perSecond = timeline(arrivals, started);
    const lines = [
      "",
      `poller bench: ${N} connections × ${kinds.length} platforms, ${ITEMS} new items per resource, simulator latency ${LATENCY} ms`,
      `POLL_CONCURRENCY=${args.concurrency} POLL_PLATFORM_CONCURRENCY=${args["platform-concurrency"]}${
        args["node-flags"] ? `, node ${args["node-flags"]}` : ""
      }`,
      "",
      `resource polls            ${stored.pollMs.length} (${stored.run?.counts.failed ?? "?"} failed), job run ${stored.run?.status}`,
      `tick → last data.ingested ${elapsedS.toFixed(2)} s (first after ${((firstAt - started) / 1000).toFixed(2)} s)`,
      `connections/s             ${(N / elapsedS).toFixed(0)}`,
      `records stored/s          ${(stored.records / elapsedS).toFixed(0)} (${stored.records} records)`,
      `communication events      ${stored.comms}`,
      `per poll                  p50 ${percentile(stored.pollMs, 50).toFixed(0)} ms, p99 ${percentile(stored.pollMs, 99).toFixed(0)} ms, max ${(stored.pollMs.at(-1) ?? 0).toFixed(0)} ms`,
      `per second                ${perSecond}`,
      `last by resource          ${[...lastByResource]
        .sort((a, b) => a[1] - b[1])
        .map(([resource, at]) => `${resource} ${((at - started) / 1000).toFixed(1)} s`)
        .join(", ")}`,
      `payload bytes (avg)       ${stored.payloadSizes.map((r) => `${r.platform} ${r.avg}${r.compressed ? ` (${r.compressed} ${r.method}-compressed)` : ""}`).join(", ")}`,
      `WAL written (server)      ${mb(spent.walBytes)}`,
      `poller RSS                start ${mb(rssAtStart)}, peak ${mb(peak)}`,
      `machine reference         ${formatReference(reference)}`,
      `CPU during the run        poller ${cpu.poller.toFixed(1)} s, simulator ${cpu.simulator.toFixed(1)} s, postgres ${cpu.postgres.toFixed(1)} s; machine busy ${cpu.machine.toFixed(1)} s of ${(2 * elapsedS).toFixed(1)} s on 2 cores, stolen ${cpu.steal.toFixed(1)} s; load avg ${spent.load}`,
      "",
    ];
    process.stdout.write(lines.join("\n"));

    const lastByResourceS = Object.fromEntries(
      [...lastByResource].map(([resource, at]) => [resource, (at - started) / 1000]),
    );
    const firstS = (firstAt - started) / 1000;
    const rss = { rssStartBytes: rssAtStart, rssPeakBytes: peak };
    return tickFigures({ elapsedS, firstS, stored, spent, ...rss, perSecond, lastByResourceS });
  };
  const results: Array<ReturnType<typeof tickFigures>> = [];
  for (let round = 1; round <= RUNS; round++) {
    if (RUNS > 1) process.stdout.write(`\nrun ${round} of ${RUNS}\n`);
    results.push(await timedRun(round));
  }
  if (RUNS > 1) {
    const list = (values: number[]) => values.map((v) => v.toFixed(0)).join(", ");
    const conns = results.map((r) => r.connectionsPerS);
    const recs = results.map((r) => r.recordsPerS);
    process.stdout.write(
      `\n${`median of ${RUNS} runs`.padEnd(26)}${median(conns).toFixed(0)} connections/s (${list(conns)}), ${median(recs).toFixed(0)} records/s (${list(recs)})\n`,
    );
  }
  record.finish({
    reference,
    figures: {
      median: {
        connectionsPerS: median(results.map((r) => r.connectionsPerS)),
        recordsPerS: median(results.map((r) => r.recordsPerS)),
      },
      runs: results,
    },
  });

  subscription.unsubscribe();
  await nc.close();
  await bus.close();
} finally {
  for (const child of children) child.kill("SIGTERM");
  await new Promise((resolve) => setTimeout(resolve, args.profile ? 5_000 : 500));
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  await nats.cleanup().catch(() => {});
  await db.drop();
}
