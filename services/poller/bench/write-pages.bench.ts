/**
 * npm run bench:write-pages [-- --batches 200 --pages 32 --records 20 --contacts 5 --connections 20000
 *                             --setup 'SQL run after seeding' --explain 100 --no-autoanalyze
 *                             --no-comms --variant current|copy-merge|copy-merge-kept]
 *
 * The page statement alone (repositories/records.repository.ts `writePages`), the poller's main cost in
 * Postgres: batches of `--pages` final pages of a first sync (distinct connections, `--records`
 * new Gmail-like records each, from or to the user's contacts, so about two communication
 * events per record are created too), written one batch after another on one connection. Prints pages/s,
 * records/s, the statement's latency and the CPU the Postgres backend used per page and per record
 * — the figure to watch when changing the statement, free of HTTP, NATS and the poller's own CPU.
 * The run is appended to bench-results/write-pages.jsonl (`--no-record` or BENCH_RECORD=0: not).
 * `--no-comms`: pages without communication candidates (records only). `--variant copy-merge`: the
 * records written by COPY into a temporary table and one MERGE instead (copy-merge-variant.ts, an
 * experiment the poller does not use; it writes no communication events, so it needs `--no-comms`);
 * `copy-merge-kept`: the same with the temporary table kept by the session and its statements prepared.
 */
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { outboxRow } from "@syncwell/bus";
import { communicationCandidates } from "@syncwell/communication";
import { createEvent } from "@syncwell/contracts";
import { createPool } from "@syncwell/db";
import {
  benchRecordOption,
  createTestDatabase,
  formatReference,
  percentile,
  processCpuSeconds,
  referenceWork,
  startBenchRecord,
} from "@syncwell/testing";
import type pg from "pg";
import { payloadJson } from "../src/domain/payload-json.ts";
import { PAGE_WRITE_SESSION_SETTINGS } from "../src/engine/page-writer.ts";
import {
  type PageResult,
  type PageWrite,
  type PreparedRecord,
  writePages,
  zeroTotals,
} from "../src/repositories/records.repository.ts";
import { writePagesCopyMerge } from "./copy-merge-variant.ts";
import { finishSeeding, insertContacts, insertUsers } from "./seed.ts";

const { values: args } = parseArgs({
  options: {
    batches: { type: "string", default: "200" },
    pages: { type: "string", default: "32" },
    records: { type: "string", default: "20" },
    contacts: { type: "string", default: "5" },
    /** Connections seeded up front (the table sizes the statement works against). */
    connections: { type: "string", default: "20000" },
    /** SQL run after seeding, to try a change (an index, a setting) against the same data. */
    setup: { type: "string" },
    /** Logs the plans (EXPLAIN ANALYZE) of statements slower than this many ms (auto_explain). */
    explain: { type: "string" },
    /** Analyze the tables as they grow, as autovacuum would (`--no-autoanalyze`: never, as on a server without it). */
    autoanalyze: { type: "boolean", default: true },
    /** Communication candidates on every record (`--no-comms`: none, records only). */
    comms: { type: "boolean", default: true },
    /** `current`: the poller's page statement; `copy-merge`, `copy-merge-kept`: the experiment in copy-merge-variant.ts. */
    variant: { type: "string", default: "current" },
    ...benchRecordOption,
  },
  allowNegative: true,
});
const BATCHES = Number(args.batches);
const PAGES = Number(args.pages);
const RECORDS = Number(args.records);
const CONTACTS = Number(args.contacts);
const CONNECTIONS = Math.max(Number(args.connections), BATCHES * PAGES);
const VARIANTS = ["current", "copy-merge", "copy-merge-kept"];
if (!VARIANTS.includes(args.variant))
  throw new Error(`--variant ${args.variant}: one of ${VARIANTS.join(", ")}`);
if (args.variant !== "current" && args.comms) {
  throw new Error(
    "--variant copy-merge writes no communication events: run it (and what it is compared with) with --no-comms",
  );
}
const write = (client: pg.ClientBase, writes: readonly PageWrite[]): Promise<PageResult[]> =>
  args.variant === "current"
    ? writePages(client, writes)
    : writePagesCopyMerge(client, writes, args.variant === "copy-merge-kept" ? "kept" : "dropped");
const record = startBenchRecord("write-pages", args);

/** A message as Gmail's `format=metadata` returns it (about 700 bytes of JSON). */
function gmailMessage(i: number, contacts: readonly string[]) {
  const id = (0x10000000 + i).toString(16);
  const to = contacts.join(", ");
  return {
    id,
    threadId: id,
    labelIds: ["INBOX", "CATEGORY_PERSONAL", "UNREAD"],
    snippet: "Following up on the proposal we discussed on Tuesday; the numbers are attached and",
    sizeEstimate: 4_812 + i,
    historyId: String(900_000 + i),
    internalDate: String(1_760_000_000_000 + i * 60_000),
    payload: {
      mimeType: "multipart/alternative",
      headers: [
        { name: "From", value: "Sam Seller <sam@example.com>" },
        { name: "To", value: to },
        { name: "Cc", value: "" },
        { name: "Subject", value: `Re: proposal ${i}` },
        { name: "Date", value: new Date(1_760_000_000_000 + i * 60_000).toUTCString() },
      ],
    },
  };
}

const db = await createTestDatabase({ poolMax: 2 });
try {
  const reference = await referenceWork(db.pool);
  process.stdout.write(`seeding ${CONNECTIONS} connections with ${CONTACTS} contacts each…\n`);
  const contactEmails = Array.from({ length: CONTACTS }, (_, i) => `contact-${i}@client.example`);
  const connections: Array<{ id: string; userId: string }> = [];
  for (let start = 0; start < CONNECTIONS; start += 2_000) {
    const chunk = Array.from({ length: Math.min(2_000, CONNECTIONS - start) }, () => ({
      id: randomUUID(),
      userId: randomUUID(),
    }));
    connections.push(...chunk);
    const users = chunk.map((c) => c.userId);
    await insertUsers(db.pool, users);
    await db.pool.query(
      `INSERT INTO connections (id, user_id, provider, scopes, access_token_encrypted, token_key_id)
       SELECT id, user_id, 'google', ARRAY['https://www.googleapis.com/auth/gmail.readonly'], 'x', 'k1'
       FROM unnest($1::uuid[], $2::uuid[]) AS t(id, user_id)`,
      [chunk.map((c) => c.id), users],
    );
    await db.pool.query(
      `INSERT INTO sync_states (connection_id, platform, resource, claimed_by, claimed_until, poll_started_at)
       SELECT id, 'gmail', 'messages', 'bench', now() + interval '1 hour', now() FROM unnest($1::uuid[]) AS t(id)`,
      [chunk.map((c) => c.id)],
    );
    await insertContacts(db.pool, users, contactEmails);
  }
  await finishSeeding(db.pool, args.setup);

  // A connection set up as the poller's page writer sets up its own.
  const writer = createPool(db.url, {
    max: 1,
    applicationName: "write-pages-bench",
    sessionSettings: PAGE_WRITE_SESSION_SETTINGS,
  });
  const client = await writer.connect();
  try {
    const { rows } = await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
    const backend = rows[0]?.pid as number;
    if (args.explain !== undefined) {
      await client.query("LOAD 'auto_explain'");
      await client.query(`SET auto_explain.log_min_duration = ${Number(args.explain)}`);
      await client.query("SET auto_explain.log_analyze = on");
      await client.query("SET auto_explain.log_nested_statements = on");
    }
    const batchWrites = (b: number): PageWrite[] =>
      Array.from({ length: PAGES }, (_, p) => {
        const connection = connections[b * PAGES + p] as { id: string; userId: string };
        const records: PreparedRecord[] = [];
        const items = [];
        for (let r = 0; r < RECORDS; r++) {
          const message = gmailMessage(r, contactEmails);
          const occurredAt = new Date(Number(message.internalDate));
          records.push({ externalId: message.id, payloadJson: payloadJson(message), occurredAt });
          items.push({
            externalId: message.id,
            // Every fourth one sent by the user to all contacts, the others from one contact.
            communication:
              r % 4 === 0
                ? { channel: "email" as const, from: null, to: contactEmails, fromSelf: true }
                : {
                    channel: "email" as const,
                    from: contactEmails[r % CONTACTS] as string,
                    to: ["me@example.com"],
                  },
            occurredAt,
          });
        }
        return {
          ref: { connectionId: connection.id, platform: "gmail", resource: "messages" },
          claimToken: "bench",
          userId: connection.userId,
          records,
          communications: args.comms ? communicationCandidates(items, new Set()) : [],
          before: zeroTotals(),
          skipped: 0,
          fullListing: false,
          pollStartedAt: new Date(),
          next: null,
          done: {
            cursor: "1",
            nextPollInMs: 1_800_000,
            event: outboxRow(
              createEvent(
                "data.ingested",
                {
                  connectionId: connection.id,
                  userId: connection.userId,
                  provider: "google",
                  resource: "gmail.messages",
                  counts: { added: 0, updated: 0, unchanged: 0, deleted: 0 },
                  cursor: "1",
                  communicationEventsCreated: 0,
                  fullSync: true,
                },
                { source: "bench" },
              ),
            ),
          },
        };
      });

    process.stdout.write(`writing ${BATCHES} batches of ${PAGES} pages × ${RECORDS} records…\n`);
    const latencies: number[] = [];
    let stored = 0;
    let comms = 0;
    let analyzedAt = 0;
    let analyzes = 0;
    const cpuBefore = processCpuSeconds([backend]);
    const started = performance.now();
    for (let b = 0; b < BATCHES; b++) {
      const writes = batchWrites(b);
      const t0 = performance.now();
      const results = await write(client, writes);
      latencies.push(performance.now() - t0);
      for (const r of results) {
        if (!r.claimHeld) throw new Error("a page lost its claim");
        stored += r.page.added;
        comms += r.page.communicationEvents;
      }
      // What autovacuum would do (it is off on some servers, this project's CI machine among them):
      // analyze a table that grew by 10% + 50 rows. Cached plans follow the new statistics; without
      // it, plans made while raw_records was nearly empty keep scanning it whole as it grows.
      if (args.autoanalyze && stored >= analyzedAt * 1.1 + 50) {
        await db.pool.query("ANALYZE raw_records, communication_events");
        analyzedAt = stored;
        analyzes += 1;
      }
    }
    const elapsed = (performance.now() - started) / 1000;
    const cpu = processCpuSeconds([backend]) - cpuBefore;
    latencies.sort((a, b) => a - b);
    const pages = BATCHES * PAGES;
    process.stdout.write(
      [
        "",
        `write-pages bench (${args.variant}): ${BATCHES} batches × ${PAGES} pages × ${RECORDS} records, ${CONTACTS} contacts per user${args.comms ? "" : ", no communication candidates"}`,
        `stored                 ${stored} records, ${comms} communication events (${args.autoanalyze ? `${analyzes} analyzes as autovacuum would` : "never analyzed"})`,
        `throughput             ${(pages / elapsed).toFixed(0)} pages/s, ${(stored / elapsed).toFixed(0)} records/s (includes building the batches)`,
        `statement              p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms`,
        `Postgres backend CPU   ${cpu.toFixed(2)} s: ${((cpu * 1e6) / pages).toFixed(0)} µs per page, ${((cpu * 1e6) / stored).toFixed(1)} µs per record`,
        `machine reference      ${formatReference(reference)}`,
        "",
      ].join("\n"),
    );
    record.finish({
      reference,
      figures: {
        pages,
        records: stored,
        communicationEvents: comms,
        analyzes,
        elapsedS: elapsed,
        pagesPerS: pages / elapsed,
        recordsPerS: stored / elapsed,
        statementP50Ms: percentile(latencies, 50),
        statementP99Ms: percentile(latencies, 99),
        backendCpuS: cpu,
        backendCpuPerPageUs: (cpu * 1e6) / pages,
        backendCpuPerRecordUs: (cpu * 1e6) / stored,
      },
    });
  } finally {
    client.release();
    await writer.end();
  }
} finally {
  await db.drop();
}
