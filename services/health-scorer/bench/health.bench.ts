/**
 * npm run bench:health [-- --users 10000 --contacts-per-user 10 --events-per-contact 24 --deals 10000
 *                         --ingested 10000 --node-flags='--max-old-space-size=64' --explain 50 --log-statements
 *                         --no-record]
 *
 * The health scorer as production runs it: its own process, from its bundle as the image runs it
 * (built first: `services/health-scorer/dist/main.mjs`, npm run build), tracing off, against
 * Postgres and NATS. The seed is `users` active users with a Google connection each,
 * `contacts-per-user` contacts each (100,000 by default) with a year of email and meetings, and
 * `deals` open deals with two contacts each; none is scored yet.
 *
 * 1. Two full sweeps, each one tick.health-sweep over every connection, contact and deal, scores/s
 *    from the tick's job run: the first gives every subject its first score (all announced: a new
 *    installation), the second recomputes them all after their scores were aged past the maximum
 *    age (the daily sweep of a running system, which announces only what moved).
 * 2. A stream of `ingested` data.ingested events, one per connection, each after one new email
 *    with one of its contacts (whose last interaction was weeks ago, so its score moves and is
 *    announced). Published as fast as NATS takes them (encoded beforehand, as plain NATS
 *    messages the stream stores without an acknowledgement each: `sendPrepared`); prints
 *    events/s from the first publish to the last event applied, and the latency from each
 *    event's publish to the health.changed of its contact (p50/p99/max).
 *
 * Also the scorer's peak RSS (VmHWM) and the CPU each process used (in the stream also the NATS
 * server, this bench, and the whole machine's busy time). The run is appended to
 * bench-results/health.jsonl (`--no-record` or BENCH_RECORD=0: not).
 */
import { randomBytes } from "node:crypto";
import { cpus } from "node:os";
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import { createBus } from "@syncwell/bus";
import { createEvent } from "@syncwell/contracts";
import { findJobRun } from "@syncwell/db";
import { buildBundles, serviceBundle } from "@syncwell/dev/bundle";
import { serviceNodeFlags } from "@syncwell/dev/processes";
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
  percentile,
  postgresBackends,
  prepareEvent,
  processesNamed,
  processMemoryBytes,
  publishTick,
  referenceWork,
  sendPrepared,
  serviceProcessEnv,
  spawnService,
  startBenchRecord,
  waitFor,
} from "@syncwell/testing";
import { connectionId, contactId, newMail, seed, userId } from "./seed.ts";

const { values: args } = parseArgs({
  options: {
    users: { type: "string", default: "10000" },
    "contacts-per-user": { type: "string", default: "10" },
    "events-per-contact": { type: "string", default: "24" },
    deals: { type: "string", default: "10000" },
    ingested: { type: "string", default: "10000" },
    /** Logs the plans (EXPLAIN ANALYZE) of statements slower than this many ms (auto_explain) to the server log. */
    explain: { type: "string" },
    /** Logs every statement with its duration to the server log (log_min_duration_statement = 0). */
    "log-statements": { type: "boolean", default: false },
    /** Node flags of the scorer process: by default those its image sets (scripts/docker-entrypoint.sh). */
    "node-flags": { type: "string", default: serviceNodeFlags("health-scorer").join(" ") },
    ...benchRecordOption,
  },
  allowNegative: true,
});
const shape = {
  users: Number(args.users),
  contactsPerUser: Number(args["contacts-per-user"]),
  eventsPerContact: Number(args["events-per-contact"]),
  deals: Number(args.deals),
  quietDays: 45,
};
const INGESTED = Number(args.ingested);
for (const [name, value] of Object.entries({ ...shape, ingested: INGESTED })) {
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} takes a whole number, not ${value}`);
}
if (INGESTED > shape.users) throw new Error("--ingested is at most --users (one event per connection)");
if (shape.contactsPerUser < 3) throw new Error("--contacts-per-user is at least 3");

const record = startBenchRecord("health", args);
const out = (line: string) => process.stdout.write(`${line}\n`);
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
const logger = createLogger({ service: "health-bench", level: "warn" });
const nats = createTestNats("healthbench");
const db = await createTestDatabase({ poolMax: 4 });
// Before the scorer starts: its sessions take the settings.
await logSlowStatements(db, {
  logStatements: args["log-statements"],
  explainMs: args.explain === undefined ? undefined : Number(args.explain),
});
const port = await freePort();
await buildBundles(["health-scorer"]);
const scorer = spawnService(
  "health-scorer",
  {
    ...serviceProcessEnv({ databaseUrl: db.url, nats }, { streamMaxBytes: "256MiB" }),
    LOG_LEVEL: "warn",
    OTEL_SDK_DISABLED: "true",
    HEALTH_API_KEYS: randomBytes(24).toString("base64url"),
  },
  port,
  {
    nodeArgs: args["node-flags"].split(" ").filter(Boolean),
    inheritEnv: false,
    entry: serviceBundle("health-scorer"),
  },
);

try {
  out(
    `seeding ${shape.users} users, ${shape.users * shape.contactsPerUser} contacts × ${shape.eventsPerContact} interactions, ${shape.deals} deals…`,
  );
  const seedStarted = performance.now();
  await seed(db.pool, shape, out);
  out(`seeded in ${((performance.now() - seedStarted) / 1000).toFixed(0)} s`);
  await scorer.ready(60_000);
  const reference = await referenceWork(db.pool);
  const pid = scorer.process.pid as number;
  const rssAtStart = processMemoryBytes(pid, "VmRSS");
  const cpu = new CpuTracker(() => [pid]);
  const bus = await createBus({ servers: nats.url, prefix: nats.prefix, name: "bench", logger });

  // 1. The full sweeps: first scores, then every score stale.
  const first = await timedSweep(bus, pid, "first scores");
  const relayS = await outboxDrained();
  await db.pool.query(
    "UPDATE health_scores SET computed_at = computed_at - interval '25 hours', last_attempt_at = NULL",
  );
  const stale = await timedSweep(bus, pid, "stale scores");
  await outboxDrained();
  const sweepCpuS = cpu.seconds();

  // 2. The stream of data.ingested.
  const figures = await ingestStream(bus);
  const peakRss = processMemoryBytes(pid, "VmHWM");
  const totalCpuS = cpu.seconds();
  await bus.close();

  const lines = [
    "",
    `health bench: ${shape.users} users, ${shape.users * shape.contactsPerUser} contacts × ${shape.eventsPerContact} interactions, ${shape.deals} deals`,
    "",
    sweepLine("sweep, first scores", first),
    `  its health.changed   published by the outbox relay within ${relayS.toFixed(1)} s after the sweep ended`,
    sweepLine("sweep, stale scores", stale),
    `data.ingested         ${INGESTED} events in ${figures.elapsedS.toFixed(2)} s: ${(INGESTED / figures.elapsedS).toFixed(0)} events/s, ${(figures.scores / figures.elapsedS).toFixed(0)} scores/s (${figures.scores} scores)`,
    `event → health.changed p50 ${figures.p50.toFixed(0)} ms, p99 ${figures.p99.toFixed(0)} ms, max ${figures.max.toFixed(0)} ms (${figures.announced} of ${INGESTED} contacts announced)`,
    `scorer RSS            at start ${mb(rssAtStart)}, peak ${mb(peakRss)}`,
    `machine reference     ${formatReference(reference)}`,
    `scorer CPU            sweeps ${sweepCpuS.toFixed(1)} s, stream ${(totalCpuS - sweepCpuS).toFixed(1)} s (stream: postgres ${figures.postgresCpuS.toFixed(1)} s)`,
    `stream, whole machine busy ${figures.machineBusyS.toFixed(1)} of ${(figures.elapsedS * cpus().length).toFixed(1)} core-seconds: nats-server ${figures.natsCpuS.toFixed(1)} s, this bench (publisher and subscriber) ${figures.benchCpuS.toFixed(1)} s`,
    "",
  ];
  out(lines.join("\n"));
  record.finish({
    reference,
    figures: {
      sweepFirst: first,
      sweepStale: stale,
      ingested: {
        events: INGESTED,
        seconds: figures.elapsedS,
        eventsPerS: INGESTED / figures.elapsedS,
        scoresPerS: figures.scores / figures.elapsedS,
        announced: figures.announced,
        latencyP50Ms: figures.p50,
        latencyP99Ms: figures.p99,
        latencyMaxMs: figures.max,
        postgresCpuS: figures.postgresCpuS,
        natsCpuS: figures.natsCpuS,
        benchCpuS: figures.benchCpuS,
        machineBusyS: figures.machineBusyS,
      },
      rssAtStartBytes: rssAtStart,
      peakRssBytes: peakRss,
      cpuS: { sweep: sweepCpuS, stream: totalCpuS - sweepCpuS },
    },
  });
} catch (err) {
  process.stderr.write(`health scorer output:\n${scorer.output().slice(-5_000)}\n`);
  throw err;
} finally {
  scorer.process.kill("SIGTERM");
  await Promise.race([scorer.exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
  if (scorer.running) scorer.process.kill("SIGKILL");
  await nats.cleanup().catch(() => {});
  await db.drop();
}

/**
 * New mail for the first INGESTED users' contact 2, then one data.ingested per connection; waits
 * until every event is applied (its connection's mark is set) and measures each contact's
 * health.changed against its event's publish.
 */
/**
 * Waits for the outbox relay to publish what the last phase announced, so the next phase is
 * measured on its own; resolves how long that took.
 */
async function outboxDrained(): Promise<number> {
  const started = performance.now();
  await waitFor(
    async () => {
      const { rows } = await db.pool.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM outbox_events WHERE published_at IS NULL AND set_aside_at IS NULL",
      );
      return rows[0]?.n === 0 || undefined;
    },
    "the outbox relay to publish the announcements",
    { timeoutMs: 600_000, intervalMs: 250 },
  );
  return (performance.now() - started) / 1000;
}

/** One tick.health-sweep, timed by its job run, with the CPU the scorer and Postgres spent on it. */
async function timedSweep(bus: Awaited<ReturnType<typeof createBus>>, pid: number, what: string) {
  out(`sweeping (${what})…`);
  const scorerCpu = new CpuTracker(() => [pid]);
  const postgresCpu = new CpuTracker(() => postgresBackends(db.name));
  const sampler = setInterval(() => postgresCpu.sample(), 200);
  const jobRunId = await publishTick({ db: db.pool, bus }, "health-sweep", { source: "bench" });
  const run = await waitFor(
    async () => {
      const found = await findJobRun(db.pool, jobRunId);
      return found && found.status !== "running" ? found : undefined;
    },
    "the sweep's job run",
    { timeoutMs: 1_800_000, intervalMs: 500 },
  );
  clearInterval(sampler);
  const seconds = (run.durationMs ?? 0) / 1000;
  const scores = Number(run.counts.refreshed ?? 0);
  return {
    status: run.status,
    counts: run.counts,
    seconds,
    scoresPerS: scores / seconds,
    cpuS: { scorer: scorerCpu.seconds(), postgres: postgresCpu.seconds() },
  };
}

function sweepLine(label: string, sweep: Awaited<ReturnType<typeof timedSweep>>): string {
  const { counts, cpuS } = sweep;
  return `${label.padEnd(22)}${counts.refreshed} scores in ${sweep.seconds.toFixed(2)} s: ${sweep.scoresPerS.toFixed(0)} scores/s, ${counts.changed} changed (job run ${sweep.status}; CPU scorer ${cpuS.scorer.toFixed(1)} s, postgres ${cpuS.postgres.toFixed(1)} s)`;
}

async function ingestStream(bus: Awaited<ReturnType<typeof createBus>>) {
  await newMail(db.pool, INGESTED, 2);
  const contactOf = new Map<string, number>();
  for (let i = 1; i <= INGESTED; i++) contactOf.set(contactId(i, 2), i);
  const publishedAt = new Array<number>(INGESTED + 1).fill(0);
  const latencies: number[] = [];
  const nc = await connect({ servers: nats.url });
  const subscription = nc.subscribe(`${nats.prefix}.health.changed`, {
    callback: (_err, msg) => {
      const at = performance.now();
      // The subject's id read out of the text, not by parsing the whole event: the bench's own
      // work shares the machine with the scorer it measures.
      const text = msg.string();
      const from = text.indexOf('"subjectId":"') + 13;
      const subject = text.slice(from, from + 36);
      const i = contactOf.get(subject);
      if (i !== undefined && publishedAt[i]) latencies.push(at - (publishedAt[i] as number));
    },
  });
  await nc.flush();
  // Built, validated and encoded before the clock starts, and sent without an acknowledgement per
  // event (sendPrepared): the load generator's own work is not the scorer's.
  const events = Array.from({ length: INGESTED }, (_, k) => prepareEvent(bus.naming, ingestedEvent(k + 1)));
  out(`publishing ${INGESTED} data.ingested…`);
  const meters = streamMeters();
  const started = performance.now();
  await sendPrepared(nc, events, {
    onSend: (k) => {
      publishedAt[k + 1] = performance.now();
    },
  });
  out(`published in ${((performance.now() - started) / 1000).toFixed(2)} s; waiting for the scorer…`);
  await waitFor(
    async () => {
      const { rows } = await db.pool.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM health_ingest_marks",
      );
      return (rows[0]?.n ?? 0) >= INGESTED || undefined;
    },
    "every data.ingested to be applied",
    { timeoutMs: 600_000, intervalMs: 50 },
  );
  const elapsedS = (performance.now() - started) / 1000;
  const cpu = meters.stop();
  // health.changed goes out through the outbox: give the relay a moment for the last ones.
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  subscription.unsubscribe();
  await nc.close();
  const { rows } = await db.pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM health_scores WHERE computed_at >= now() - make_interval(secs => $1)",
    [elapsedS + 2],
  );
  latencies.sort((a, b) => a - b);
  return {
    elapsedS,
    ...cpu,
    scores: rows[0]?.n ?? 0,
    announced: latencies.length,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies.at(-1) ?? 0,
  };
}

/** CPU used from now to `stop()`: by Postgres's backends of the bench database, the NATS server, this process, the machine. */
function streamMeters() {
  const postgresCpu = new CpuTracker(() => postgresBackends(db.name));
  const natsCpu = new CpuTracker(() => processesNamed("nats-server"));
  const sampler = setInterval(() => {
    postgresCpu.sample();
    natsCpu.sample();
  }, 200);
  const benchCpu = new CpuTracker(() => [process.pid]);
  const machine = machineSeconds();
  return {
    stop() {
      clearInterval(sampler);
      return {
        postgresCpuS: postgresCpu.seconds(),
        natsCpuS: natsCpu.seconds(),
        benchCpuS: benchCpu.seconds(),
        machineBusyS: machineSeconds().busy - machine.busy,
      };
    },
  };
}

function ingestedEvent(i: number) {
  return createEvent(
    "data.ingested",
    {
      connectionId: connectionId(i),
      userId: userId(i),
      provider: "google",
      resource: "gmail.messages",
      counts: { added: 1, updated: 0, unchanged: 0, deleted: 0 },
      cursor: String(i),
      communicationEventsCreated: 1,
      fullSync: false,
    },
    { source: "bench" },
  );
}
