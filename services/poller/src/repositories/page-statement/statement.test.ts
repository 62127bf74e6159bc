// The page statement's parts and how they are put together: as text (which parts each shape has
// and in which order, what each part reads, which parameters it takes), then in Postgres (each
// shape planned through indexes, and one batch written). What the statement does to the tables in
// every case is tested through the engine (engine/poll-engine.test.ts).
import { randomUUID } from "node:crypto";
import { outboxRow } from "@syncwell/bus";
import { createEvent } from "@syncwell/contracts";
import { createPool } from "@syncwell/db";
import { createTestDatabase, type TestDatabase } from "@syncwell/testing";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PAGE_WRITE_SESSION_SETTINGS } from "../../engine/page-writer.ts";
import { addContact, createConnection, createUser, testCipher } from "../../testing/fixtures.ts";
import { type PageWrite, writePages, zeroTotals } from "../records.repository.ts";
import { totalsCte } from "./page-ctes.ts";
import { pageStatementValues } from "./parameters.ts";
import { type PageStatementShape, pageStatement, pageStatementCtes, shapeOf } from "./statement.ts";

/** The shapes a batch can have (a page that deletes what it did not see is a last page). */
const SHAPES: readonly PageStatementShape[] = [
  { final: false, gone: false, comms: false },
  { final: false, gone: false, comms: true },
  { final: true, gone: false, comms: false },
  { final: true, gone: false, comms: true },
  { final: true, gone: true, comms: false },
  { final: true, gone: true, comms: true },
];

const nameOf = (cte: string): string => /^(\w+) AS /.exec(cte)?.[1] ?? `unnamed: ${cte.slice(0, 40)}`;

/** The other parts of the statement that a part reads (`FROM x` or `JOIN x`). */
function partsRead(cte: string, names: readonly string[]): string[] {
  const read = [...cte.matchAll(/\b(?:FROM|JOIN)\s+(\w+)/g)].map((m) => m[1] as string);
  return [...new Set(read.filter((name) => names.includes(name)))];
}

describe("page statement", () => {
  it("has the parts of its shape, in order, under a name of its own", () => {
    const everything = { final: true, gone: true, comms: true };
    expect(pageStatementCtes(everything).map(nameOf)).toEqual([
      "pages",
      "held",
      "input",
      "existing",
      "inserted",
      "updated",
      "touched",
      "seen",
      "seen_counts",
      "gone",
      "gone_counts",
      "comms",
      "comm_counts",
      "totals",
      "state",
      "synced",
      "outbox",
    ]);
    expect(pageStatementCtes({ final: false, gone: false, comms: false }).map(nameOf)).toEqual([
      "pages",
      "held",
      "input",
      "existing",
      "inserted",
      "updated",
      "touched",
      "seen",
      "seen_counts",
      "totals",
      "state",
    ]);
    expect(SHAPES.map((shape) => pageStatement(shape).name)).toEqual([
      "poller-write-pages-",
      "poller-write-pages-c",
      "poller-write-pages-f",
      "poller-write-pages-fc",
      "poller-write-pages-fg",
      "poller-write-pages-fgc",
    ]);
    const { text } = pageStatement(everything);
    expect(text.startsWith("WITH pages AS MATERIALIZED (")).toBe(true);
    expect(text.endsWith("SELECT k, added, updated, unchanged, deleted, comms, counts FROM totals")).toBe(
      true,
    );
  });

  it("lets each part read only parts before it", () => {
    for (const shape of SHAPES) {
      const ctes = pageStatementCtes(shape);
      const names = ctes.map(nameOf);
      ctes.forEach((cte, i) => {
        const earlier = names.slice(0, i);
        expect(
          partsRead(cte, names).filter((name) => !earlier.includes(name)),
          names[i],
        ).toEqual([]);
      });
    }
  });

  it("guards every write by the claim: each part that writes reads `held`, directly or through others", () => {
    for (const shape of SHAPES) {
      const ctes = pageStatementCtes(shape);
      const names = ctes.map(nameOf);
      const reads = new Map(ctes.map((cte) => [nameOf(cte), partsRead(cte, names)]));
      const readsHeld = (name: string, visited = new Set<string>()): boolean => {
        if (visited.has(name)) return false;
        visited.add(name);
        return (reads.get(name) ?? []).some((read) => read === "held" || readsHeld(read, visited));
      };
      const writers = ctes.filter((cte) => /^\w+ AS \(\s*(INSERT|UPDATE)\b/.test(cte)).map(nameOf);
      expect(writers).toEqual(expect.arrayContaining(["inserted", "updated", "touched", "state"]));
      for (const writer of writers) expect(readsHeld(writer), writer).toBe(true);
    }
  });

  it("takes exactly the parameters pageStatementValues gives", () => {
    const write: PageWrite = {
      ref: { connectionId: "c", platform: "p", resource: "r" },
      claimToken: "replica/1",
      userId: "u",
      records: [],
      communications: [],
      before: zeroTotals(),
      skipped: 0,
      fullListing: false,
      pollStartedAt: new Date(0),
      next: { pageToken: "t", leaseMs: 1_000 },
      done: null,
    };
    for (const shape of SHAPES) {
      const used = new Set([...pageStatement(shape).text.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])));
      const count = pageStatementValues([write], shape).length;
      expect([...used].sort((a, b) => a - b)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    }
  });

  it("counts deletions and events in `totals` only with the parts that make them", () => {
    const plain = totalsCte({ final: true, gone: false, comms: false });
    expect(plain).not.toMatch(/gone_counts|comm_counts|gc\.|cc\./);
    expect(plain).toContain("0 AS deleted, 0 AS comms");
    const full = totalsCte({ final: true, gone: true, comms: true });
    expect(full).toContain("LEFT JOIN gone_counts gc ON gc.k = h.k");
    expect(full).toContain("LEFT JOIN comm_counts cc ON cc.k = h.k");
    expect(full).toContain("coalesce(gc.deleted, 0) AS deleted, coalesce(cc.comms, 0) AS comms");
    expect(full).toContain("'deleted', (p.before->>'deleted')::int + coalesce(gc.deleted, 0)");
  });

  it("takes its shape from the batch: deletions only for the last page of a full listing", () => {
    const page = (over: Partial<PageWrite>): PageWrite => ({
      ref: { connectionId: "c", platform: "p", resource: "r" },
      claimToken: "replica/1",
      userId: "u",
      records: [],
      communications: [],
      before: zeroTotals(),
      skipped: 0,
      fullListing: false,
      pollStartedAt: new Date(0),
      next: null,
      done: null,
      ...over,
    });
    const done = {
      cursor: null,
      nextPollInMs: 1,
      event: { id: "e", subject: "s", type: "t", payload: "{}", traceHeaders: "{}" },
    };
    const candidate = {
      id: "i",
      externalId: "x",
      email: "a@b.c",
      channel: "email" as const,
      direction: "inbound" as const,
      occurredAt: new Date(0),
    };
    expect(shapeOf([page({ fullListing: true })])).toEqual({ final: false, gone: false, comms: false });
    expect(shapeOf([page({ done })])).toEqual({ final: true, gone: false, comms: false });
    expect(shapeOf([page({ fullListing: true }), page({ done })])).toEqual({
      final: true,
      gone: false,
      comms: false,
    });
    expect(shapeOf([page({ done, fullListing: true })])).toEqual({ final: true, gone: true, comms: false });
    expect(shapeOf([page({}), page({ communications: [candidate] })])).toEqual({
      final: false,
      gone: false,
      comms: true,
    });
  });
});

describe("page statement in Postgres", () => {
  let db: TestDatabase;
  let writer: pg.Pool;

  beforeAll(async () => {
    db = await createTestDatabase();
    // Set up as the poller's page writer sets up its connections.
    writer = createPool(db.url, { max: 1, sessionSettings: PAGE_WRITE_SESSION_SETTINGS });
  });

  afterAll(async () => {
    await writer?.end();
    await db?.drop();
  });

  /** A page of each kind the shape holds (what its values are does not change the plan). */
  function writesOf(shape: PageStatementShape, ref: PageWrite["ref"], userId: string): PageWrite[] {
    const communications = shape.comms
      ? [
          {
            id: randomUUID(),
            externalId: "a",
            email: "friend@example.com",
            channel: "email" as const,
            direction: "inbound" as const,
            occurredAt: new Date(),
          },
        ]
      : [];
    return [
      {
        ref,
        claimToken: "replica/1",
        userId,
        records: [
          { externalId: "a", payloadJson: '{"subject":"hello"}', occurredAt: new Date() },
          { externalId: "b", payloadJson: '{"subject":"again"}', occurredAt: null },
        ],
        communications,
        before: zeroTotals(),
        skipped: 0,
        fullListing: shape.gone,
        pollStartedAt: new Date(),
        next: shape.final ? null : { pageToken: "next", leaseMs: 60_000 },
        done: shape.final
          ? {
              cursor: "c1",
              nextPollInMs: 60_000,
              event: outboxRow(
                createEvent(
                  "data.ingested",
                  {
                    connectionId: ref.connectionId,
                    userId,
                    provider: "google",
                    resource: `${ref.platform}.${ref.resource}`,
                    counts: { added: 0, updated: 0, unchanged: 0, deleted: 0 },
                    cursor: "c1",
                    communicationEventsCreated: 0,
                    fullSync: true,
                  },
                  { source: "poller" },
                ),
              ),
            }
          : null,
      },
    ];
  }

  it("plans every shape through indexes: no sequential scan of a table", async () => {
    const ref = { connectionId: randomUUID(), platform: "gmail", resource: "messages" };
    const client = await writer.connect();
    try {
      for (const [i, shape] of SHAPES.entries()) {
        const { text } = pageStatement(shape);
        const values = pageStatementValues(writesOf(shape, ref, randomUUID()), shape);
        await client.query(`PREPARE page_statement_${i} AS ${text}`);
        // EXECUTE takes no bind parameters: the values go in as literals.
        const literals = values.map((value) =>
          value === null ? "NULL" : client.escapeLiteral(String(value)),
        );
        const { rows } = await client.query<{ "QUERY PLAN": string }>(
          `EXPLAIN (COSTS OFF) EXECUTE page_statement_${i}(${literals.join(", ")})`,
        );
        const plan = rows.map((row) => row["QUERY PLAN"]).join("\n");
        expect(plan, pageStatement(shape).name).toMatch(/Index (Only )?Scan using \w+ on raw_records/);
        expect(plan, pageStatement(shape).name).not.toMatch(
          /Seq Scan on (raw_records|sync_states|connections|communication_events|contacts|outbox_events)\b/,
        );
      }
    } finally {
      client.release();
    }
  });

  it("writes a page whose poll holds the claim, and nothing of one whose claim was taken over", async () => {
    const userId = await createUser(db.pool);
    const connectionId = await createConnection(db.pool, testCipher(), {
      userId,
      provider: "google",
      accessToken: "token",
    });
    await addContact(db.pool, userId, "friend@example.com");
    await db.pool.query(
      `INSERT INTO sync_states (connection_id, platform, resource, claimed_by, claimed_until, poll_started_at)
       VALUES ($1, 'gmail', 'messages', 'replica/1', now() + interval '1 minute', now()),
              ($1, 'gmail', 'labels', 'replica/2', now() + interval '1 minute', now())`,
      [connectionId],
    );
    // Seen by an earlier poll only: the full listing's last page marks it deleted.
    await db.pool.query(
      `INSERT INTO raw_records (id, connection_id, platform, resource, external_id, payload, content_hash, last_seen_at)
       VALUES ($1, $2, 'gmail', 'messages', 'old', '{}', '0', now() - interval '1 hour')`,
      [randomUUID(), connectionId],
    );
    const everything = { final: true, gone: true, comms: true };
    const [held] = writesOf(everything, { connectionId, platform: "gmail", resource: "messages" }, userId);
    const [lost] = writesOf(everything, { connectionId, platform: "gmail", resource: "labels" }, userId);

    const results = await writePages(writer, [held as PageWrite, lost as PageWrite]);

    const written = { added: 2, updated: 0, unchanged: 0, deleted: 1, skipped: 0, communicationEvents: 1 };
    expect(results).toEqual([
      { claimHeld: true, page: written, totals: written },
      { claimHeld: false, page: zeroTotals(), totals: zeroTotals() },
    ]);
    const states = await db.pool.query<{
      resource: string;
      cursor: string | null;
      claimed_by: string | null;
    }>("SELECT resource, cursor, claimed_by FROM sync_states WHERE connection_id = $1 ORDER BY resource", [
      connectionId,
    ]);
    expect(states.rows).toEqual([
      { resource: "labels", cursor: null, claimed_by: "replica/2" },
      { resource: "messages", cursor: "c1", claimed_by: null },
    ]);
    const events = await db.pool.query<{
      payload: { data: { counts: unknown; communicationEventsCreated: number } };
    }>("SELECT payload FROM outbox_events WHERE payload->'data'->>'connectionId' = $1", [connectionId]);
    expect(events.rows.map((row) => row.payload.data)).toMatchObject([
      { counts: { added: 2, updated: 0, unchanged: 0, deleted: 1 }, communicationEventsCreated: 1 },
    ]);
  });
});
