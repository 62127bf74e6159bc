import { randomUUID } from "node:crypto";
import { createTestDatabase } from "@syncwell/testing";
import { canonicalJson, contentHash } from "../src/domain/content-hash.ts";
import { writePages, type PageWrite } from "../src/engine/records.repository.ts";

const db = await createTestDatabase({ poolMax: 4 });
try {
  const C = 2000;
  const conns = Array.from({ length: C }, () => ({ id: randomUUID(), user: randomUUID() }));
  await db.pool.query("INSERT INTO users (id, email) SELECT u, u || '@x.io' FROM unnest($1::uuid[]) u", [conns.map((c) => c.user)]);
  await db.pool.query("INSERT INTO connections (id, user_id, provider) SELECT c, u, 'google' FROM unnest($1::uuid[], $2::uuid[]) AS t(c, u)", [conns.map((c) => c.id), conns.map((c) => c.user)]);
  await db.pool.query("INSERT INTO contacts (id, user_id, email) SELECT gen_random_uuid(), u, e FROM unnest($1::uuid[]) u, unnest(array['a@x.io','b@x.io','c@x.io','d@x.io','e@x.io']) e", [conns.map((c) => c.user)]);
  await db.pool.query("INSERT INTO sync_states (connection_id, platform, resource, claimed_by, claimed_until, poll_started_at) SELECT c, 'gmail', 'messages', 'tag', now() + interval '1 hour', now() FROM unnest($1::uuid[]) c", [conns.map((c) => c.id)]);
  await db.pool.query("ANALYZE");
  const mkPayload = (i: number, j: number) => ({ id: `m${i}-${j}`, threadId: `t${j}`, labelIds: ["INBOX", "UNREAD"], internalDate: "1700000000000", snippet: "Lorem ipsum dolor sit amet ".repeat(4), sizeEstimate: 1234, historyId: "123", payload: { headers: [{ name: "From", value: "Ann <a@x.io>" }, { name: "To", value: "b@x.io, c@x.io" }, { name: "Subject", value: "Hello there" }, { name: "Date", value: "Mon, 1 Jan 2024 10:00:00 +0000" }] } });
  const explain = process.argv.includes("--explain");
  const q = { query: (cfg: { text: string; values: unknown[] }) => db.pool.query(explain ? { text: `EXPLAIN (ANALYZE, COSTS OFF, TIMING ON) ${cfg.text}`, values: cfg.values } : cfg) } as never;
  const t0 = performance.now();
  let rounds = 0;
  for (let b = 0; b < C; b += 32) {
    const writes: PageWrite[] = conns.slice(b, b + 32).map((c, k) => ({
      ref: { connectionId: c.id, platform: "gmail", resource: "messages" }, claimToken: "tag", userId: c.user,
      records: Array.from({ length: 20 }, (_, j) => { const payloadJson = canonicalJson(mkPayload(b + k, j)); return { externalId: `m${b + k}-${j}`, payloadJson, contentHash: contentHash(payloadJson), occurredAt: new Date() }; }),
      communications: Array.from({ length: 20 }, (_, j) => [{ id: randomUUID(), externalId: `m${b + k}-${j}`, email: "a@x.io", channel: "email", direction: "inbound", occurredAt: new Date().toISOString() }, { id: randomUUID(), externalId: `m${b + k}-${j}`, email: "b@x.io", channel: "email", direction: "outbound", occurredAt: new Date().toISOString() }]).flat() as never,
      before: { added: 0, updated: 0, unchanged: 0, deleted: 0, communicationEvents: 0 }, fullListing: false, pollStartedAt: new Date(),
      next: null, done: { cursor: "c1", nextPollInMs: 60000, event: { id: randomUUID(), subject: "x.data.ingested", type: "data.ingested", payload: JSON.stringify({ data: { counts: {} } }), traceHeaders: "{}" } as never },
    }));
    const res = explain ? await q.query as never : null;
    if (explain) {
      const r = await (q as { query: (c: unknown) => Promise<{ rows: { "QUERY PLAN": string }[] }> }).query.call(null, undefined as never).catch(() => null);
      void r; void res;
    }
    if (explain && b === 32 * 20) {
      const cap: { text: string; values: unknown[] }[] = [];
      await writePages({ query: async (cfg: { text: string; values: unknown[] }) => { cap.push(cfg); return { rows: [] }; } } as never, writes);
      const { rows } = await db.pool.query<{ "QUERY PLAN": string }>({ text: `EXPLAIN (ANALYZE, COSTS OFF) ${cap[0]!.text}`, values: cap[0]!.values });
      console.log(rows.map((r) => r["QUERY PLAN"]).join("\n"));
    } else await writePages(db.pool, writes);
    rounds++;
  }
  console.log(`${rounds} batches, ${C * 20} records in ${(performance.now() - t0).toFixed(0)} ms`);
} finally {
  await db.drop();
}
