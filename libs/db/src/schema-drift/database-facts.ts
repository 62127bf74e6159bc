// What a migrated database holds, read from Postgres's catalog and written as facts (see facts.ts).
// Only the `public` schema, without the migrator's own `_prisma_migrations` table.

import pg from "pg";
import {
  checkFact,
  columnFact,
  foreignKeyFact,
  indexFact,
  primaryKeyFact,
  type ReferentialAction,
  tableFact,
  triggerFact,
} from "./facts.ts";

/** The migration history table: the migrator's, not the schema's. */
const MIGRATIONS_TABLE = "_prisma_migrations";

export async function databaseFacts(client: pg.ClientBase): Promise<string[]> {
  return [
    ...(await tables(client)),
    ...(await columns(client)),
    ...(await indexes(client)),
    ...(await foreignKeys(client)),
    ...(await constraintsAndTriggers(client)),
  ];
}

/** Tables of the compared schema, as a catalog filter on `pg_class` aliased `t`. */
const OWN_TABLES = `t.relnamespace = 'public'::regnamespace AND t.relkind IN ('r', 'p') AND t.relname <> '${MIGRATIONS_TABLE}'`;

async function tables(client: pg.ClientBase): Promise<string[]> {
  const { rows } = await client.query<{ table: string }>(
    `SELECT t.relname AS table FROM pg_class t WHERE ${OWN_TABLES}`,
  );
  return rows.map((r) => tableFact(r.table));
}

async function columns(client: pg.ClientBase): Promise<string[]> {
  const { rows } = await client.query<{
    table: string;
    column: string;
    type: string;
    not_null: boolean;
    default: string | null;
  }>(
    `SELECT t.relname AS table, a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type,
            a.attnotnull AS not_null, pg_get_expr(d.adbin, d.adrelid) AS default
       FROM pg_class t
       JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
       LEFT JOIN pg_attrdef d ON d.adrelid = t.oid AND d.adnum = a.attnum
      WHERE ${OWN_TABLES}`,
  );
  return rows.map((r) => columnFact({ ...r, nullable: !r.not_null }));
}

async function indexes(client: pg.ClientBase): Promise<string[]> {
  const { rows } = await client.query<{
    name: string;
    table: string;
    primary: boolean;
    unique: boolean;
    nulls_not_distinct: boolean;
    method: string;
    columns: string[];
    descending: boolean[];
    predicate: string | null;
  }>(
    `SELECT c.relname AS name, t.relname AS table, i.indisprimary AS primary, i.indisunique AS unique,
            i.indnullsnotdistinct AS nulls_not_distinct, am.amname AS method,
            array(SELECT coalesce(a.attname::text, pg_get_indexdef(i.indexrelid, k.ord::int, true))
                    FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
                    LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                   ORDER BY k.ord) AS columns,
            array(SELECT pg_index_column_has_property(i.indexrelid, k.ord::int, 'desc')
                    FROM generate_series(1, i.indnkeyatts) k(ord) ORDER BY k.ord) AS descending,
            pg_get_expr(i.indpred, i.indrelid) AS predicate
       FROM pg_index i
       JOIN pg_class c ON c.oid = i.indexrelid
       JOIN pg_class t ON t.oid = i.indrelid
       JOIN pg_am am ON am.oid = c.relam
      WHERE ${OWN_TABLES}`,
  );
  return rows.map((r) =>
    r.primary
      ? primaryKeyFact(r.name, r.table, r.columns)
      : indexFact({
          name: r.name,
          table: r.table,
          unique: r.unique,
          method: r.method,
          columns: r.columns.map((name, k) => ({ name, descending: r.descending[k] ?? false })),
          predicate: r.predicate,
          nullsNotDistinct: r.nulls_not_distinct,
        }),
  );
}

/** `pg_constraint.confdeltype` / `confupdtype` codes. */
const ACTIONS: Record<string, ReferentialAction> = {
  a: "no action",
  r: "restrict",
  c: "cascade",
  n: "set null",
  d: "set default",
};

async function foreignKeys(client: pg.ClientBase): Promise<string[]> {
  const { rows } = await client.query<{
    name: string;
    table: string;
    columns: string[];
    referenced_table: string;
    referenced_columns: string[];
    on_delete: string;
    on_update: string;
  }>(
    `SELECT con.conname AS name, t.relname AS table, r.relname AS referenced_table,
            array(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
                    JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
                   ORDER BY k.ord) AS columns,
            array(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
                    JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
                   ORDER BY k.ord) AS referenced_columns,
            con.confdeltype AS on_delete, con.confupdtype AS on_update
       FROM pg_constraint con
       JOIN pg_class t ON t.oid = con.conrelid
       JOIN pg_class r ON r.oid = con.confrelid
      WHERE con.contype = 'f' AND ${OWN_TABLES}`,
  );
  return rows.map((r) =>
    foreignKeyFact({
      name: r.name,
      table: r.table,
      columns: r.columns,
      referencedTable: r.referenced_table,
      referencedColumns: r.referenced_columns,
      onDelete: ACTIONS[r.on_delete] ?? "no action",
      onUpdate: ACTIONS[r.on_update] ?? "no action",
    }),
  );
}

/**
 * CHECK constraints and triggers: Prisma's schema cannot declare either, so every one of them is a
 * difference the drift test must have been told about.
 */
async function constraintsAndTriggers(client: pg.ClientBase): Promise<string[]> {
  const checks = await client.query<{ name: string; table: string }>(
    `SELECT con.conname AS name, t.relname AS table
       FROM pg_constraint con JOIN pg_class t ON t.oid = con.conrelid
      WHERE con.contype = 'c' AND ${OWN_TABLES}`,
  );
  const triggers = await client.query<{ name: string; table: string }>(
    `SELECT tg.tgname AS name, t.relname AS table
       FROM pg_trigger tg JOIN pg_class t ON t.oid = tg.tgrelid
      WHERE NOT tg.tgisinternal AND ${OWN_TABLES}`,
  );
  return [
    ...checks.rows.map((r) => checkFact(r.name, r.table)),
    ...triggers.rows.map((r) => triggerFact(r.name, r.table)),
  ];
}

/**
 * The text Postgres writes back for a partial index's predicate on `table`: an index with it is
 * created in a transaction that is rolled back, so a schema's predicate compares with the
 * database's as Postgres parsed both.
 */
export async function normalizedPredicate(
  client: pg.ClientBase,
  table: string,
  predicate: string,
): Promise<string> {
  const column = await client.query<{ name: string }>(
    `SELECT a.attname AS name FROM pg_attribute a
      WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum LIMIT 1`,
    [pg.escapeIdentifier(table)],
  );
  const probe = pg.escapeIdentifier("schema_drift_predicate_probe");
  await client.query("BEGIN");
  try {
    await client.query(
      `CREATE INDEX ${probe} ON ${pg.escapeIdentifier(table)} (${pg.escapeIdentifier(column.rows[0]?.name ?? "")}) WHERE ${predicate}`,
    );
    const { rows } = await client.query<{ predicate: string }>(
      `SELECT pg_get_expr(indpred, indrelid) AS predicate FROM pg_index WHERE indexrelid = $1::regclass`,
      [probe],
    );
    return rows[0]?.predicate ?? "";
  } finally {
    await client.query("ROLLBACK");
  }
}
