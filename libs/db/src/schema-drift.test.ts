// schema.prisma against a database built by the migrations: the same tables, columns (type,
// nullability, default), primary keys, indexes and foreign keys. What Prisma's schema cannot say
// (reference checks by trigger, CHECK constraints, other triggers, NULLS NOT DISTINCT) is listed
// below with its reason; a listed difference that no longer exists fails too, so the list stays true.

import { readFile } from "node:fs/promises";
import { createTestDatabase, type TestDatabase } from "@syncwell/testing";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "./migrate.ts";
import { databaseFacts, normalizedPredicate } from "./schema-drift/database-facts.ts";
import { checkFact, triggerFact } from "./schema-drift/facts.ts";
import { schemaFacts } from "./schema-drift/schema-facts.ts";

interface KnownDifference {
  /** What schema.prisma declares instead (null: it declares nothing in its place). */
  schema: string | null;
  /** What the database holds instead (null: nothing). */
  database: string | null;
  reason: string;
}

const schemaPath = new URL("../prisma/schema.prisma", import.meta.url);

/**
 * A relation whose foreign key constraint was replaced by statement-level triggers: schema.prisma
 * keeps the relation (Prisma Client joins without a constraint), the database has four triggers.
 */
function referenceCheckedByTriggers(
  fk: string,
  child: { table: string; column: string },
  parent: string,
  migration: string,
): KnownDifference[] {
  const reason =
    `${child.table}.${child.column} -> ${parent}.id is checked once per statement by triggers instead ` +
    `of once per row by a foreign key (migration ${migration})`;
  return [
    {
      schema: `foreign key ${fk} on ${child.table} (${child.column}) references ${parent} (id) on delete cascade on update cascade`,
      database: null,
      reason,
    },
    { schema: null, database: triggerFact(`${fk}_check`, child.table), reason: `${reason}: inserts` },
    { schema: null, database: triggerFact(`${fk}_cascade`, parent), reason: `${reason}: ON DELETE CASCADE` },
    {
      schema: null,
      database: triggerFact(`${fk}_fixed`, child.table),
      reason: `${reason}: the reference never changes`,
    },
    {
      schema: null,
      database: triggerFact(`${fk}_key_fixed`, parent),
      reason: `${reason}: the key never changes`,
    },
  ];
}

/**
 * A health score's subject lives in one of three tables, which no foreign key can reference:
 * schema.prisma declares no relation, the database has the triggers that stand in for one.
 */
function healthSubjectChecked(migration: string): KnownDifference[] {
  const reason = `health_scores (subject_type, subject_id, user_id) -> its subject's table, by triggers (migration ${migration})`;
  return [
    {
      schema: null,
      database: triggerFact("health_scores_subject_fkey_check", "health_scores"),
      reason: `${reason}: inserts`,
    },
    {
      schema: null,
      database: triggerFact("health_scores_subject_fkey_fixed", "health_scores"),
      reason: `${reason}: the subject never changes`,
    },
    ...["connections", "contacts", "deals"].map((table) => ({
      schema: null,
      database: triggerFact("health_scores_subject_fkey_cascade", table),
      reason: `${reason}: deleting ${table} deletes their scores`,
    })),
  ];
}

/** A CHECK constraint: Prisma's schema cannot declare one; the field's doc comment names it. */
const check = (name: string, table: string, what: string): KnownDifference => ({
  schema: null,
  database: checkFact(name, table),
  reason: `CHECK constraint (${what}), which Prisma's schema cannot declare`,
});

const KNOWN_DIFFERENCES: KnownDifference[] = [
  ...referenceCheckedByTriggers(
    "communication_events_raw_record_id_fkey",
    { table: "communication_events", column: "raw_record_id" },
    "raw_records",
    "20261126000000_references_checked_per_statement",
  ),
  ...referenceCheckedByTriggers(
    "communication_events_contact_id_fkey",
    { table: "communication_events", column: "contact_id" },
    "contacts",
    "20261126000000_references_checked_per_statement",
  ),
  ...referenceCheckedByTriggers(
    "raw_records_connection_id_fkey",
    { table: "raw_records", column: "connection_id" },
    "connections",
    "20261206120000_reference_checks_by_key",
  ),
  {
    schema:
      "unique index connections_user_id_provider_provider_account_id_key on connections using btree (user_id, provider, provider_account_id)",
    database:
      "unique index connections_user_id_provider_provider_account_id_key on connections using btree (user_id, provider, provider_account_id) nulls not distinct",
    reason:
      "NULLS NOT DISTINCT, which Prisma's schema cannot declare: a null provider account id still allows one connection per user and provider",
  },
  {
    schema: null,
    database: triggerFact("outbox_events_source", "outbox_events"),
    reason: "fills outbox_events.source from the envelope's source when a writer leaves the default ''",
  },
  {
    schema: null,
    database: triggerFact("outbox_events_notify", "outbox_events"),
    reason: "wakes the outbox relay (NOTIFY syncwell_outbox) when events are inserted",
  },
  check("users_email_lowercase_check", "users", "emails stored lowercased"),
  check("contacts_email_lowercase_check", "contacts", "emails stored lowercased"),
  check("connections_status_check", "connections", "status values"),
  check("job_runs_status_check", "job_runs", "status values"),
  check("sync_states_status_check", "sync_states", "status values"),
  check("communication_events_channel_check", "communication_events", "channel values"),
  check("communication_events_direction_check", "communication_events", "direction values"),
  check("rate_limit_buckets_config_check", "rate_limit_buckets", "capacity and refill above zero"),
  ...healthSubjectChecked("20261208000000_health_scores"),
  {
    schema: null,
    database: triggerFact("deal_contacts_owner_check", "deal_contacts"),
    reason:
      "a deal and its contacts belong to one user (a check across two tables, which no constraint makes)",
  },
  check("contacts_external_id_check", "contacts", "external id length"),
  check("deals_status_check", "deals", "status values"),
  check("deals_closed_at_check", "deals", "a close time exactly when won or lost"),
  check("deals_amount_check", "deals", "amount at least 0, with its currency code"),
  check("deals_text_check", "deals", "name, stage and external id lengths"),
  check(
    "deals_original_expected_close_at_check",
    "deals",
    "an original close date exactly with a close date",
  ),
  check("health_scores_subject_type_check", "health_scores", "subject type values"),
  check("health_scores_status_check", "health_scores", "status on the subject type's scale"),
  check("health_scores_score_check", "health_scores", "score from 0 to 100"),
  check("health_scores_components_check", "health_scores", "components are a structure, not a bare value"),
  check("health_scores_inputs_check", "health_scores", "input window in order"),
  check("health_score_history_status_check", "health_score_history", "statuses on the subject type's scale"),
  check("health_score_history_score_check", "health_score_history", "scores from 0 to 100"),
  check("health_score_history_previous_check", "health_score_history", "previous score and status together"),
  check("health_score_history_change_check", "health_score_history", "a row is a change"),
  check(
    "health_score_history_components_check",
    "health_score_history",
    "components are a structure, not a bare value",
  ),
  check("notifications_keys_check", "notifications", "kind form and dedup key length"),
  check("notifications_priority_check", "notifications", "priority values"),
  check("notifications_subject_type_check", "notifications", "subject type values"),
  check("notifications_status_check", "notifications", "status with its read and resolved times"),
  check("notifications_data_check", "notifications", "facts are an object"),
  check("notification_messages_channel_check", "notification_messages", "channel values"),
  check(
    "notification_messages_status_check",
    "notification_messages",
    "status values, a due time while waiting",
  ),
  check(
    "notification_delivery_attempts_outcome_check",
    "notification_delivery_attempts",
    "an outcome exactly when finished",
  ),
  check("notification_episodes_state_check", "notification_episodes", "episode numbers, level and clock"),
  {
    schema: null,
    database: triggerFact("notifications_seq_on_change", "notifications"),
    reason:
      "gives every changed notification a new seq (and update time), for the live streams' resume order",
  },
];

let db: TestDatabase;
let client: pg.PoolClient;

beforeAll(async () => {
  db = await createTestDatabase({ migrate: false });
  await migrate({ databaseUrl: db.url });
  client = await db.pool.connect();
});

afterAll(async () => {
  client?.release();
  await db?.drop();
});

/** Facts only one side has: `schema` ones are not in the database, `database` ones not in the schema. */
async function differences(schema: string) {
  const declared = new Set(
    await schemaFacts(schema, (table, predicate) => normalizedPredicate(client, table, predicate)),
  );
  const actual = new Set(await databaseFacts(client));
  return {
    schema: [...declared].filter((f) => !actual.has(f)).sort(),
    database: [...actual].filter((f) => !declared.has(f)).sort(),
  };
}

const known = (side: "schema" | "database") =>
  KNOWN_DIFFERENCES.flatMap((d) => (d[side] === null ? [] : [d[side]])).sort();

describe("schema.prisma against the migrated database", () => {
  it("declares what the migrations built, apart from the known differences", async () => {
    const found = await differences(await readFile(schemaPath, "utf8"));
    // Compared whole: a failure shows what drifted and which known difference no longer exists.
    expect(found).toEqual({ schema: known("schema"), database: known("database") });
  });
});
