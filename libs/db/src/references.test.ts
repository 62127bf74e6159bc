// References checked per statement instead of by foreign key constraints: communication events'
// two (migration 20261126000000_references_checked_per_statement) and raw records' connection
// (20261206120000): what the constraints guaranteed, including against concurrent transactions.

import { randomUUID } from "node:crypto";
import { createTestDatabase, type TestDatabase } from "@syncwell/testing";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

type Fixture = { userId: string; connectionId: string; contactId: string };

async function fixture(q: pg.Pool = db.pool): Promise<Fixture> {
  const userId = randomUUID();
  const connectionId = randomUUID();
  const contactId = randomUUID();
  await q.query("INSERT INTO users (id, email) VALUES ($1, $2)", [userId, `${userId}@example.com`]);
  await q.query("INSERT INTO connections (id, user_id, provider) VALUES ($1, $2, 'google')", [
    connectionId,
    userId,
  ]);
  await q.query("INSERT INTO contacts (id, user_id, email) VALUES ($1, $2, $3)", [
    contactId,
    userId,
    `${contactId}@example.com`,
  ]);
  return { userId, connectionId, contactId };
}

const insertRecords = (q: pg.Pool | pg.PoolClient, connectionId: string, n = 1, idPrefix = "m") =>
  q.query<{ id: string }>(
    `INSERT INTO raw_records (id, connection_id, platform, resource, external_id, payload, content_hash)
     SELECT gen_random_uuid(), $1, 'gmail', 'messages', $3 || g, '{}', 'h' FROM generate_series(1, $2) g
     RETURNING id`,
    [connectionId, n, idPrefix],
  );

const insertEventWith = (
  q: pg.Pool | pg.PoolClient,
  f: Fixture,
  rawRecordId: string,
  contactId = f.contactId,
) =>
  q.query(
    `INSERT INTO communication_events (id, user_id, contact_id, connection_id, raw_record_id, channel, direction, occurred_at)
     VALUES ($1, $2, $3, $4, $5, 'email', 'inbound', now())`,
    [randomUUID(), f.userId, contactId, f.connectionId, rawRecordId],
  );
const insertEvent = (f: Fixture, rawRecordId: string, contactId = f.contactId) =>
  insertEventWith(db.pool, f, rawRecordId, contactId);

/** `n` more contacts of the user, `bulk<i>@example.com`. */
const insertContacts = (q: pg.Pool | pg.PoolClient, userId: string, n: number) =>
  q.query(
    `INSERT INTO contacts (id, user_id, email)
     SELECT gen_random_uuid(), $1, 'bulk' || g || '@example.com' FROM generate_series(1, $2) g`,
    [userId, n],
  );

/** An event for each of the connection's records without one, with one of the user's first `contacts` contacts. */
const insertEventsForRecords = (q: pg.Pool | pg.PoolClient, f: Fixture, contacts: number) =>
  q.query(
    `INSERT INTO communication_events (id, user_id, contact_id, connection_id, raw_record_id, channel, direction, occurred_at)
     SELECT gen_random_uuid(), $1, c.id, $2, r.id, 'email', 'inbound', now()
     FROM (SELECT id, row_number() OVER (ORDER BY id) AS i FROM raw_records x
           WHERE connection_id = $2 AND NOT EXISTS (SELECT 1 FROM communication_events e WHERE e.raw_record_id = x.id)) r
     JOIN (SELECT id, row_number() OVER (ORDER BY id) AS i FROM contacts WHERE user_id = $1 ORDER BY id LIMIT $3) c
       ON c.i = (r.i % $3) + 1`,
    [f.userId, f.connectionId, contacts],
  );

/**
 * Runs `insert` in a transaction left open, then `deleteSql` (a parent's delete) on another
 * connection: the delete must wait for the insert's lock on the parent, and completes once the
 * insert commits.
 */
async function deleteWaitingForInsert(
  insert: (client: pg.PoolClient) => Promise<unknown>,
  deleteSql: string,
  params: unknown[],
): Promise<void> {
  const inserting = await db.pool.connect();
  const deleting = await db.pool.connect();
  try {
    await inserting.query("BEGIN");
    await insert(inserting);
    let deleted = false;
    const deletion = deleting.query(deleteSql, params).then(() => {
      deleted = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(deleted).toBe(false); // held by the insert's lock on the parent
    await inserting.query("COMMIT");
    await deletion;
  } finally {
    inserting.release();
    deleting.release();
  }
}

/** The plans of the reference checks that `statements` run on `client` (auto_explain, as notices). */
async function checkPlans(client: pg.PoolClient, statements: () => Promise<unknown>): Promise<string[]> {
  const plans: string[] = [];
  const listener = (notice: { message?: string }) => plans.push(notice.message ?? "");
  client.on("notice", listener);
  try {
    for (const setting of [
      "LOAD 'auto_explain'",
      "SET auto_explain.log_min_duration = 0",
      "SET auto_explain.log_nested_statements = on",
      "SET auto_explain.log_level = notice",
    ]) {
      await client.query(setting);
    }
    await statements();
  } finally {
    client.off("notice", listener);
  }
  return plans.filter((plan) => plan.includes("FOR KEY SHARE"));
}

/** Each table's check found its parents through the primary key, never reading the table. */
function expectKeyLookups(checks: readonly string[], tables: readonly string[]): void {
  expect(checks).toHaveLength(tables.length);
  for (const table of tables) {
    const plan = checks.find((check) => check.includes(`FROM ${table} p`)) ?? "";
    expect(plan, table).toContain(`Index Scan using ${table}_pkey on ${table} p`);
    expect(plan, table).not.toContain(`Seq Scan on ${table}`);
  }
}

const count = async (table: string, column: string, id: string) =>
  Number((await db.pool.query(`SELECT count(*) AS n FROM ${table} WHERE ${column} = $1`, [id])).rows[0].n);

describe("references checked per statement", () => {
  it("refuses rows whose parent does not exist, naming the foreign key and the key", async () => {
    const f = await fixture();
    const missing = randomUUID();
    const [record] = (await insertRecords(db.pool, f.connectionId)).rows as [{ id: string }];
    await expect(insertEvent(f, missing)).rejects.toMatchObject({
      code: "23503",
      constraint: "communication_events_raw_record_id_fkey",
      message:
        'insert on table "communication_events" violates foreign key "communication_events_raw_record_id_fkey"',
      detail: `Key (raw_record_id)=(${missing}) is not present in table "raw_records".`,
    });
    await expect(insertEvent(f, record.id, missing)).rejects.toMatchObject({
      code: "23503",
      constraint: "communication_events_contact_id_fkey",
      detail: `Key (contact_id)=(${missing}) is not present in table "contacts".`,
    });
    // One bad row fails the whole statement: nothing of it is stored.
    await expect(
      db.pool.query(
        `INSERT INTO communication_events (id, user_id, contact_id, connection_id, raw_record_id, channel, direction, occurred_at)
         VALUES (gen_random_uuid(), $1, $2, $3, $4, 'email', 'inbound', now()),
                (gen_random_uuid(), $1, $5, $3, $4, 'email', 'inbound', now())`,
        [f.userId, f.contactId, f.connectionId, record.id, missing],
      ),
    ).rejects.toMatchObject({ code: "23503" });
    expect(await count("communication_events", "raw_record_id", record.id)).toBe(0);

    await expect(insertRecords(db.pool, missing)).rejects.toMatchObject({
      code: "23503",
      constraint: "raw_records_connection_id_fkey",
      message: 'insert on table "raw_records" violates foreign key "raw_records_connection_id_fkey"',
      detail: `Key (connection_id)=(${missing}) is not present in table "connections".`,
    });
    expect(await count("raw_records", "connection_id", missing)).toBe(0);
  });

  it("deletes the children with their parent, through both levels", async () => {
    const f = await fixture();
    const records = (await insertRecords(db.pool, f.connectionId, 3)).rows;
    for (const r of records) await insertEvent(f, r.id);
    const [first] = records as [{ id: string }];

    await db.pool.query("DELETE FROM contacts WHERE id = $1", [f.contactId]);
    expect(await count("communication_events", "connection_id", f.connectionId)).toBe(0);
    expect(await count("raw_records", "connection_id", f.connectionId)).toBe(3);

    const g = { ...f, contactId: randomUUID() };
    await db.pool.query("INSERT INTO contacts (id, user_id, email) VALUES ($1, $2, $3)", [
      g.contactId,
      g.userId,
      `${g.contactId}@example.com`,
    ]);
    for (const r of records) await insertEvent(g, r.id);
    await db.pool.query("DELETE FROM raw_records WHERE id = $1", [first.id]);
    expect(await count("communication_events", "raw_record_id", first.id)).toBe(0);
    expect(await count("communication_events", "connection_id", f.connectionId)).toBe(2);

    // A user's deletion cascades to connections (a constraint), and on to records and events.
    await db.pool.query("DELETE FROM users WHERE id = $1", [f.userId]);
    expect(await count("raw_records", "connection_id", f.connectionId)).toBe(0);
    expect(await count("communication_events", "connection_id", f.connectionId)).toBe(0);
  });

  it("refuses to change a reference or a referenced key", async () => {
    const f = await fixture();
    const other = await fixture();
    const [record] = (await insertRecords(db.pool, f.connectionId)).rows as [{ id: string }];
    await insertEvent(f, record.id);
    await expect(
      db.pool.query("UPDATE communication_events SET contact_id = $1 WHERE raw_record_id = $2", [
        other.contactId,
        record.id,
      ]),
    ).rejects.toMatchObject({ code: "23503", constraint: "communication_events_contact_id_fkey" });
    await expect(
      db.pool.query(
        "UPDATE communication_events SET raw_record_id = gen_random_uuid() WHERE raw_record_id = $1",
        [record.id],
      ),
    ).rejects.toMatchObject({ code: "23503", constraint: "communication_events_raw_record_id_fkey" });
    await expect(
      db.pool.query("UPDATE raw_records SET id = gen_random_uuid() WHERE id = $1", [record.id]),
    ).rejects.toMatchObject({ code: "23503", constraint: "communication_events_raw_record_id_fkey" });
    await expect(
      db.pool.query("UPDATE contacts SET id = gen_random_uuid() WHERE id = $1", [f.contactId]),
    ).rejects.toMatchObject({ code: "23503", constraint: "communication_events_contact_id_fkey" });
    await expect(
      db.pool.query("UPDATE raw_records SET connection_id = $1 WHERE id = $2", [
        other.connectionId,
        record.id,
      ]),
    ).rejects.toMatchObject({ code: "23503", constraint: "raw_records_connection_id_fkey" });
    await expect(
      db.pool.query("UPDATE connections SET id = gen_random_uuid() WHERE id = $1", [f.connectionId]),
    ).rejects.toMatchObject({ code: "23503", constraint: "raw_records_connection_id_fkey" });
    // Other columns change freely.
    await db.pool.query(`UPDATE raw_records SET last_seen_at = now(), payload = '{"a":1}' WHERE id = $1`, [
      record.id,
    ]);
    await db.pool.query("UPDATE contacts SET name = 'Renamed' WHERE id = $1", [f.contactId]);
    await db.pool.query("UPDATE connections SET status = 'warning' WHERE id = $1", [f.connectionId]);
  });

  it("makes a parent's delete wait for an insert under way, then removes what it inserted", async () => {
    const f = await fixture();
    const [record] = (await insertRecords(db.pool, f.connectionId)).rows as [{ id: string }];
    await deleteWaitingForInsert(
      (inserting) => insertEventWith(inserting, f, record.id),
      "DELETE FROM contacts WHERE id = $1",
      [f.contactId],
    );
    expect(await count("communication_events", "raw_record_id", record.id)).toBe(0);
  });

  it("makes a connection's delete wait for records being inserted, then removes them and their events", async () => {
    const f = await fixture();
    const [record] = (await insertRecords(db.pool, f.connectionId)).rows as [{ id: string }];
    await insertEvent(f, record.id);
    await deleteWaitingForInsert(
      (inserting) => insertRecords(inserting, f.connectionId, 3, "later"),
      "DELETE FROM connections WHERE id = $1",
      [f.connectionId],
    );
    expect(await count("raw_records", "connection_id", f.connectionId)).toBe(0);
    expect(await count("communication_events", "connection_id", f.connectionId)).toBe(0);
  });

  it("fails an insert whose parent is deleted by a transaction under way, once that one commits", async () => {
    const f = await fixture();
    const [record] = (await insertRecords(db.pool, f.connectionId)).rows as [{ id: string }];
    const deleting = await db.pool.connect();
    try {
      await deleting.query("BEGIN");
      await deleting.query("DELETE FROM contacts WHERE id = $1", [f.contactId]);
      const insert = insertEvent(f, record.id).then(
        () => "inserted",
        (err: pg.DatabaseError) => err.code,
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      await deleting.query("COMMIT");
      expect(await insert).toBe("23503");
      expect(await count("communication_events", "raw_record_id", record.id)).toBe(0);
    } finally {
      deleting.release();
    }
  });

  it("looks each parent up by its primary key, however many rows its table holds", async () => {
    // Through `id IN (SELECT …)` (until migration 20261206120000), Postgres read all of a table of a
    // few tens of thousands of rows to lock a batch's parents: it takes a batch for 200 keys.
    const f = await fixture();
    await insertContacts(db.pool, f.userId, 30_000);
    await insertRecords(db.pool, f.connectionId, 300);
    await db.pool.query("ANALYZE contacts, raw_records");

    const client = await db.pool.connect();
    try {
      const plans = await checkPlans(client, () => insertEventsForRecords(client, f, 150));
      expectKeyLookups(plans, ["contacts", "raw_records"]);
    } finally {
      client.release(true); // not back to the pool with auto_explain on
    }
    expect(await count("communication_events", "connection_id", f.connectionId)).toBe(300);
  });

  it("keeps looking parents up by key with plans made while the tables were nearly empty", async () => {
    // A database of its own, analyzed only while nearly empty (a server without autovacuum): a
    // session's plan made while a table has a few rows reads it whole, and Postgres keeps it until
    // the table's statistics change. The checks plan with seqscans off (migration 20261206120000).
    const fresh = await createTestDatabase();
    const client = await fresh.pool.connect();
    try {
      const f = await fixture(fresh.pool);
      const [first] = (await insertRecords(client, f.connectionId)).rows as [{ id: string }];
      await fresh.pool.query("ANALYZE"); // as a new deployment's first analyses would, then none
      // The session plans all three checks now, while every parent table holds a row or two.
      await checkPlans(client, () => insertEventWith(client, f, first.id));
      await fresh.pool.query(
        `WITH u AS (INSERT INTO users (id, email)
                    SELECT gen_random_uuid(), 'bulk' || g || '@example.com' FROM generate_series(1, 20000) g
                    RETURNING id)
         INSERT INTO connections (id, user_id, provider) SELECT gen_random_uuid(), id, 'google' FROM u`,
      );
      await insertContacts(fresh.pool, f.userId, 20_000);
      await insertRecords(fresh.pool, f.connectionId, 20_000, "bulk");

      const plans = await checkPlans(client, async () => {
        await insertRecords(client, f.connectionId, 50, "later");
        await insertEventsForRecords(client, f, 50);
      });
      expectKeyLookups(plans, ["connections", "contacts", "raw_records"]);
    } finally {
      client.release(true);
      await fresh.drop();
    }
  });
});
