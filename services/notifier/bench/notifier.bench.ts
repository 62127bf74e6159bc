/**
 * npm run bench:notifier [-- --users 10000 --streams 1000 --email-rate 50 --paced 5000 --paced-rate 500
 *                           --node-flags='--cpu-prof --cpu-prof-dir=/tmp/prof' --explain 50 --log-statements --no-record]
 *
 * The notifier as production runs it: its own process, from its bundle as the image runs it
 * (built first: `services/notifier/dist/main.mjs`, npm run build), tracing off, against Postgres
 * and NATS, with the provider simulator (its own process) as Resend. The seed is `users` users
 * with a Google connection each; `streams` of them hold a live stream (`GET
 * /v1/notifications/stream`, a JWT signed with a NOTIFY_JWT_KEYS secret) open throughout.
 *
 * 1. Five events per user (`bench/events.ts`: token.failed ladders and health.changed to
 *    critical / ghost / stalled; 50,000 by default), published round by round as fast as NATS
 *    takes them (encoded beforehand, as plain NATS messages the stream stores without an
 *    acknowledgement each: `sendPrepared`). Prints in-app notifications/s from the first publish to the last notification
 *    announced (`notifier.changes.<userId>`, sent after the commit), the latency from each
 *    event's publish to its notification's announcement and to its arrival on a live stream (a
 *    backlog: these include the queue), then emails/s as the email worker sends the
 *    disconnections at the simulator, within EMAIL_RATE_LIMIT_PER_SEC (`email-rate`).
 * 2. `paced` health.changed events at `paced-rate` per second, each a new contact of a user with a
 *    stream open: the latency from publish to announcement and to the live stream when the
 *    notifier keeps up.
 *
 * Also the notifier's peak RSS (VmHWM) and the CPU each process used (notifier, simulator,
 * Postgres backends of the bench's database, the bench itself with its streams) and the machine's
 * busy and stolen seconds. The run is appended to bench-results/notifier.jsonl (`--no-record` or
 * BENCH_RECORD=0: not). `--node-flags` replaces the image's flags (the default): repeat them to
 * profile what production runs.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { type Bus, createBus, type Naming } from "@syncwell/bus";
import { buildBundles, serviceBundle } from "@syncwell/dev/bundle";
import { serviceNodeFlags } from "@syncwell/dev/processes";
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
  percentile,
  postgresBackends,
  prepareEvent,
  processMemoryBytes,
  referenceWork,
  sendPrepared,
  serviceProcessEnv,
  spawnService,
  startBenchRecord,
  waitFor,
} from "@syncwell/testing";
import { openStream, type SseClient, tokenFor } from "../src/testing/in-app.ts";
import { EVENTS_PER_USER, health, type Planned, seedUsers, userEvents, userId } from "./events.ts";

const { values: args } = parseArgs({
  options: {
    users: { type: "string", default: "10000" },
    streams: { type: "string", default: "1000" },
    "email-rate": { type: "string", default: "50" },
    paced: { type: "string", default: "5000" },
    "paced-rate": { type: "string", default: "500" },
    /** Logs the plans (EXPLAIN ANALYZE) of statements slower than this many ms (auto_explain) to the server log. */
    explain: { type: "string" },
    /** Logs every statement with its duration to the server log (log_min_duration_statement = 0). */
    "log-statements": { type: "boolean", default: false },
    /** Node flags of the notifier process: by default those its image sets (scripts/docker-entrypoint.sh). */
    "node-flags": { type: "string", default: serviceNodeFlags("notifier").join(" ") },
    ...benchRecordOption,
  },
  allowNegative: true,
});
const USERS = Number(args.users);
const STREAMS = Number(args.streams);
const EMAIL_RATE = Number(args["email-rate"]);
const PACED = Number(args.paced);
const PACED_RATE = Number(args["paced-rate"]);
for (const [name, value] of Object.entries({ USERS, STREAMS, EMAIL_RATE, PACED, PACED_RATE })) {
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name.toLowerCase()} takes a whole number`);
}
if (STREAMS > USERS || STREAMS < 1) throw new Error("--streams is between 1 and --users");
const EVENTS = USERS * EVENTS_PER_USER;
const AUDIENCE = "syncwell-notifier-bench";

const record = startBenchRecord("notifier", args);
const out = (line: string) => process.stdout.write(`${line}\n`);
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
const ms = (value: number) => `${value.toFixed(0)} ms`;
const logger = createLogger({ service: "notifier-bench", level: "warn" });
const nats = createTestNats("notifybench");
const db = await createTestDatabase({ poolMax: 4 });
// Before the notifier starts: its sessions take the settings.
await logSlowStatements(db, {
  logStatements: args["log-statements"],
  explainMs: args.explain === undefined ? undefined : Number(args.explain),
});
const jwtSecret = randomBytes(32).toString("base64url");
const simPort = await freePort();
const sim = startSimulator(simPort);
const simUrl = `http://127.0.0.1:${simPort}`;
const port = await freePort();
await buildBundles(["notifier"]);
const notifier = spawnService(
  "notifier",
  {
    ...serviceProcessEnv({ databaseUrl: db.url, nats }, { streamMaxBytes: "256MiB" }),
    LOG_LEVEL: "warn",
    OTEL_SDK_DISABLED: "true",
    NOTIFY_JWT_KEYS: `bench:${jwtSecret}`,
    NOTIFY_JWT_AUDIENCE: AUDIENCE,
    EMAIL_FROM: "Syncwell <alerts@syncwell.test>",
    RESEND_API_KEY: `re_${randomBytes(16).toString("hex")}`,
    RESEND_BASE_URL: simUrl,
    EMAIL_RATE_LIMIT_PER_SEC: String(EMAIL_RATE),
    EMAIL_POLL_INTERVAL: "1s",
  },
  port,
  {
    nodeArgs: args["node-flags"].split(" ").filter(Boolean),
    inheritEnv: false,
    entry: serviceBundle("notifier"),
  },
);

/** Publish times (performance.now) by `<subject id>|<kind>` of the notification each event creates. */
const publishedAt = new Map<string, number>();
/** First announcement of each notification id (performance.now). */
const announcedAt = new Map<string, number>();
/** First arrival of each notification on a live stream, with the key of the event that made it. */
const streamedAt = new Map<string, { at: number; key: string }>();
const streams: SseClient[] = [];

try {
  out(`seeding ${USERS} users…`);
  await seedUsers(db.pool, USERS);
  await waitFor(
    async () => (await fetch(`${simUrl}/healthz`).catch(() => null))?.ok === true,
    "the simulator",
    {
      timeoutMs: 30_000,
    },
  );
  await notifier.ready(60_000);
  const pid = notifier.process.pid as number;
  const rssAtStart = processMemoryBytes(pid, "VmRSS");
  const bus = await createBus({ servers: nats.url, prefix: nats.prefix, name: "bench", logger });
  const nc = await connect({ servers: nats.url });
  listenToAnnouncements(nc);
  await nc.flush();
  out(`opening ${STREAMS} live streams…`);
  await openStreams(`http://127.0.0.1:${port}`);
  const rssWithStreams = processMemoryBytes(pid, "VmRSS");
  const reference = await referenceWork(db.pool);
  const pids = { notifier: pid, simulator: sim.pid as number };

  const burst = await measured(pids, () => burstPhase(nc, bus.naming));
  const email = await measured(pids, () => emailPhase());
  const paced = await measured(pids, () => pacedPhase(bus));
  const peakRss = processMemoryBytes(pid, "VmHWM");
  for (const stream of streams) stream.close();
  await bus.close();
  await nc.close();

  const cpuLine = (label: string, c: Cpu) =>
    `  CPU ${label.padEnd(10)} notifier ${c.notifier.toFixed(1)} s, postgres ${c.postgres.toFixed(1)} s, simulator ${c.simulator.toFixed(1)} s, bench ${c.bench.toFixed(1)} s; machine busy ${c.busy.toFixed(1)} s of ${(2 * c.wallS).toFixed(1)} s on 2 cores, stolen ${c.steal.toFixed(1)} s`;
  const b = burst.result;
  const lines = [
    "",
    `notifier bench: ${USERS} users, ${EVENTS} events, ${STREAMS} live streams open, email limit ${EMAIL_RATE}/s`,
    "",
    `in-app                ${b.notifications} notifications in ${b.elapsedS.toFixed(2)} s: ${(b.notifications / b.elapsedS).toFixed(0)} notifications/s, ${(EVENTS / b.elapsedS).toFixed(0)} events/s (published in ${b.publishS.toFixed(2)} s)`,
    `  event → in-app      p50 ${ms(b.inApp.p50)}, p99 ${ms(b.inApp.p99)}, max ${ms(b.inApp.max)} (${b.inApp.n} notifications; all published at once, so these include the queue)`,
    `  event → SSE         p50 ${ms(b.sse.p50)}, p99 ${ms(b.sse.p99)}, max ${ms(b.sse.max)} (${b.sse.n} notifications on ${STREAMS} streams)`,
    cpuLine("burst", burst.cpu),
    `email                 ${email.result.sent} sent in ${email.result.spanS.toFixed(2)} s: ${(email.result.sent / email.result.spanS).toFixed(1)} emails/s (limit ${EMAIL_RATE}/s; busiest second ${email.result.busiestSecond}; ${email.result.failed} failed; simulator accepted ${email.result.accepted}); all sent ${email.result.afterBurstS.toFixed(1)} s after the burst was stored`,
    cpuLine("email", email.cpu),
    `paced                 ${PACED} health.changed at ${PACED_RATE}/s to users with a stream open`,
    `  event → in-app      p50 ${ms(paced.result.inApp.p50)}, p99 ${ms(paced.result.inApp.p99)}, max ${ms(paced.result.inApp.max)} (${paced.result.inApp.n} notifications)`,
    `  event → SSE         p50 ${ms(paced.result.sse.p50)}, p99 ${ms(paced.result.sse.p99)}, max ${ms(paced.result.sse.max)} (${paced.result.sse.n} notifications)`,
    cpuLine("paced", paced.cpu),
    `notifier RSS          at start ${mb(rssAtStart)}, with the streams open ${mb(rssWithStreams)}, peak ${mb(peakRss)}`,
    `machine reference     ${formatReference(reference)}`,
    "",
  ];
  out(lines.join("\n"));
  record.finish({
    reference,
    figures: {
      burst: { ...b, notificationsPerS: b.notifications / b.elapsedS, cpuS: burst.cpu },
      email: { ...email.result, emailsPerS: email.result.sent / email.result.spanS, cpuS: email.cpu },
      paced: { ...paced.result, cpuS: paced.cpu },
      rssAtStartBytes: rssAtStart,
      rssWithStreamsBytes: rssWithStreams,
      peakRssBytes: peakRss,
    },
  });
} catch (err) {
  process.stderr.write(`notifier output:\n${notifier.output().slice(-5_000)}\n`);
  throw err;
} finally {
  for (const stream of streams) stream.close();
  notifier.process.kill("SIGTERM");
  await Promise.race([notifier.exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
  if (notifier.running) notifier.process.kill("SIGKILL");
  sim.kill("SIGTERM");
  await nats.cleanup().catch(() => {});
  await db.drop();
}

/** The provider simulator in a process of its own (Resend's stand-in), unlimited: the notifier keeps to its rate. */
function startSimulator(simulatorPort: number): ChildProcess {
  const child = spawn(process.execPath, ["tools/provider-simulator/src/main.ts"], {
    cwd: fileURLToPath(new URL("../../../", import.meta.url)),
    env: {
      PATH: process.env.PATH ?? "",
      PORT: String(simulatorPort),
      LOG_LEVEL: "warn",
      SIM_REQUEST_LOG_SIZE: "1000",
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  return child;
}

/** Records the first announcement of each notification (core NATS, after the notifier's commit). */
function listenToAnnouncements(nc: NatsConnection): void {
  nc.subscribe(`${nats.prefix}.notifier.changes.>`, {
    callback: (_err, msg) => {
      const at = performance.now();
      const { notificationId } = msg.json<{ notificationId: string }>();
      if (!announcedAt.has(notificationId)) announcedAt.set(notificationId, at);
    },
  });
}

/** Opens a stream for each of users 1..STREAMS, 50 at a time; each notification's first arrival is timed. */
async function openStreams(baseUrl: string): Promise<void> {
  const key = new TextEncoder().encode(jwtSecret);
  let next = 1;
  const onEvent = (e: { event: string; data: string }) => {
    const at = performance.now();
    if (e.event !== "notification") return;
    const view = JSON.parse(e.data) as { id: string; kind: string; subject: { id: string } };
    if (!streamedAt.has(view.id)) streamedAt.set(view.id, { at, key: `${view.subject.id}|${view.kind}` });
  };
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      while (next <= STREAMS) {
        const i = next++;
        const token = await tokenFor(userId(i), { key, kid: "bench", audience: AUDIENCE, expiresIn: 3_600 });
        const client = await openStream(baseUrl, { authorization: `Bearer ${token}` }, onEvent);
        if (client.status !== 200) throw new Error(`stream of user ${i}: HTTP ${client.status}`);
        streams.push(client);
      }
    }),
  );
}

type Cpu = {
  notifier: number;
  postgres: number;
  simulator: number;
  bench: number;
  busy: number;
  steal: number;
  wallS: number;
};

/** Runs a phase, with the CPU each process (and the machine) used during it. */
async function measured<T>(pids: { notifier: number; simulator: number }, phase: () => Promise<T>) {
  const trackers = {
    notifier: new CpuTracker(() => [pids.notifier]),
    postgres: new CpuTracker(() => postgresBackends(db.name)),
    simulator: new CpuTracker(() => [pids.simulator]),
    bench: new CpuTracker(() => [process.pid]),
  };
  const sampler = setInterval(() => trackers.postgres.sample(), 200);
  const machine = machineSeconds();
  const started = performance.now();
  try {
    const result = await phase();
    const after = machineSeconds();
    const cpu: Cpu = {
      notifier: trackers.notifier.seconds(),
      postgres: trackers.postgres.seconds(),
      simulator: trackers.simulator.seconds(),
      bench: trackers.bench.seconds(),
      busy: after.busy - machine.busy,
      steal: after.steal - machine.steal,
      wallS: (performance.now() - started) / 1000,
    };
    return { result, cpu };
  } finally {
    clearInterval(sampler);
  }
}

/**
 * Sends each planned event, encoded before the clock starts and without an acknowledgement per
 * event (sendPrepared: the bench shares the machine with the notifier), noting when; resolves
 * when the first went and how long sending took.
 */
async function publishAll(
  nc: NatsConnection,
  naming: Naming,
  planned: readonly Planned[],
): Promise<{ started: number; seconds: number }> {
  const prepared = planned.map((p) => prepareEvent(naming, p.event));
  const started = performance.now();
  await sendPrepared(nc, prepared, {
    onSend: (i) => {
      const { creates } = planned[i] as Planned;
      if (creates) publishedAt.set(creates, performance.now());
    },
  });
  return { started, seconds: (performance.now() - started) / 1000 };
}

/** Latencies from publish to `arrivals`, for the notifications whose event this bench timed. */
function latencies(arrivals: Iterable<{ at: number; key: string }>) {
  const values: number[] = [];
  for (const { at, key } of arrivals) {
    const published = publishedAt.get(key);
    if (published !== undefined) values.push(at - published);
  }
  values.sort((a, b) => a - b);
  return {
    n: values.length,
    p50: percentile(values, 50),
    p99: percentile(values, 99),
    max: values.at(-1) ?? 0,
  };
}

/** The announcement times of stored notifications, keyed as their events' `creates`. */
async function announcementsOf(ids: ReadonlySet<string> | null) {
  const { rows } = await db.pool.query<{ id: string; key: string }>(
    "SELECT id::text, subject_id::text || '|' || kind AS key FROM notifications",
  );
  const arrivals: { at: number; key: string }[] = [];
  for (const { id, key } of rows) {
    const at = announcedAt.get(id);
    if (at !== undefined && (ids === null || ids.has(id))) arrivals.push({ at, key });
  }
  return arrivals;
}

async function countOf(sql: string): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(sql);
  return rows[0]?.n ?? 0;
}

/** All users' events, round by round (every user's first event, then every user's second, …). */
async function burstPhase(nc: NatsConnection, naming: Naming) {
  const perUser = Array.from({ length: USERS }, (_, k) => userEvents(k + 1));
  const planned = Array.from({ length: EVENTS_PER_USER }, (_, round) =>
    perUser.map((events) => events[round] as Planned),
  ).flat();
  out(`publishing ${EVENTS} events…`);
  const { started, seconds: publishS } = await publishAll(nc, naming, planned);
  out(`published in ${publishS.toFixed(2)} s; waiting for the notifier…`);
  await waitFor(
    async () =>
      (await countOf("SELECT count(*)::int AS n FROM processed_events WHERE consumer LIKE 'notifier%'")) >=
        EVENTS || undefined,
    "every event to be applied",
    // A count over the inbox costs Postgres a few ms: not so often that the bench weighs on it.
    { timeoutMs: 900_000, intervalMs: 500 },
  );
  // Announcements follow each commit: give the last ones a moment.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const notifications = await countOf("SELECT count(*)::int AS n FROM notifications");
  const arrivals = await announcementsOf(null);
  const last = Math.max(...arrivals.map((a) => a.at));
  return {
    notifications,
    announced: arrivals.length,
    publishS,
    elapsedS: (last - started) / 1000,
    inApp: latencies(arrivals),
    sse: latencies(streamedAt.values()),
  };
}

/** Waits until every email message is final; the rate from the first send to the last. */
async function emailPhase() {
  out("waiting for the emails…");
  const started = performance.now();
  await waitFor(
    async () =>
      (await countOf(
        "SELECT count(*)::int AS n FROM notification_messages WHERE channel = 'email' AND status NOT IN ('sent', 'failed')",
      )) === 0 || undefined,
    "every email to be sent",
    { timeoutMs: 1_800_000, intervalMs: 500 },
  );
  const afterBurstS = (performance.now() - started) / 1000;
  const { rows } = await db.pool.query<{ sent: number; failed: number; span: number; busiest: number }>(
    `SELECT count(*) FILTER (WHERE status = 'sent')::int AS sent, count(*) FILTER (WHERE status = 'failed')::int AS failed,
            coalesce(extract(epoch FROM max(sent_at) - min(sent_at)), 0)::float8 AS span,
            coalesce((SELECT max(n) FROM (SELECT count(*) OVER (ORDER BY sent_at RANGE BETWEEN CURRENT ROW AND interval '999 milliseconds' FOLLOWING) AS n
                      FROM notification_messages WHERE channel = 'email' AND status = 'sent') w), 0)::int AS busiest
     FROM notification_messages WHERE channel = 'email'`,
  );
  const row = rows[0] ?? { sent: 0, failed: 0, span: 0, busiest: 0 };
  const stats = await new SimulatorControl(simUrl).emailStats({});
  return {
    sent: row.sent,
    failed: row.failed,
    spanS: row.span,
    busiestSecond: row.busiest,
    accepted: stats.sent,
    afterBurstS,
  };
}

/** PACED new critical contacts of the streamed users, at PACED_RATE per second. */
async function pacedPhase(bus: Bus) {
  out(`publishing ${PACED} health.changed at ${PACED_RATE}/s…`);
  const subjects = Array.from({ length: PACED }, () => randomUUID());
  const planned = subjects.map((subject, k) => health((k % STREAMS) + 1, "contact", subject, "critical"));
  const keys = new Set(planned.map((p) => p.creates as string));
  const started = performance.now();
  const inFlight: Promise<unknown>[] = [];
  for (let k = 0; k < PACED; k++) {
    const due = started + (k * 1000) / PACED_RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    const { event, creates } = planned[k] as Planned;
    publishedAt.set(creates as string, performance.now());
    inFlight.push(bus.publish(event));
  }
  await Promise.all(inFlight);
  const streamed = () => [...streamedAt.values()].filter((s) => keys.has(s.key));
  await waitFor(
    async () => streamed().length >= PACED || undefined,
    "every paced notification on its stream",
    {
      timeoutMs: 120_000,
      intervalMs: 100,
    },
  ).catch((err: unknown) => out(`  ${String(err)}`));
  const { rows } = await db.pool.query<{ id: string }>(
    "SELECT id::text FROM notifications WHERE kind = 'health_critical' AND subject_id = ANY($1::uuid[])",
    [subjects],
  );
  const arrivals = await announcementsOf(new Set(rows.map((r) => r.id)));
  return { events: PACED, rate: PACED_RATE, inApp: latencies(arrivals), sse: latencies(streamed()) };
}
