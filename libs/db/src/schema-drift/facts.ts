// One line of text per table, column, key, index, trigger or CHECK constraint, written the same way
// for what schema.prisma declares and for what the migrated database holds: two sets of lines that
// are compared as sets, and a difference reads as the object that differs.

export interface ColumnFact {
  table: string;
  column: string;
  /** As Postgres's `format_type` writes it: `text`, `timestamp(3) with time zone`, `text[]`. */
  type: string;
  nullable: boolean;
  /** As Postgres's `pg_get_expr` writes it (`'UTC'::text`, `CURRENT_TIMESTAMP`), or null. */
  default: string | null;
}

export interface IndexFact {
  name: string;
  table: string;
  unique: boolean;
  /** Access method: btree, hash, gin… */
  method: string;
  columns: { name: string; descending: boolean }[];
  /** A partial index's predicate, as Postgres writes it back; null for a whole-table index. */
  predicate: string | null;
  nullsNotDistinct: boolean;
}

export interface ForeignKeyFact {
  name: string;
  table: string;
  columns: string[];
  referencedTable: string;
  referencedColumns: string[];
  onDelete: ReferentialAction;
  onUpdate: ReferentialAction;
}

export type ReferentialAction = "cascade" | "restrict" | "no action" | "set null" | "set default";

export const tableFact = (table: string) => `table ${table}`;

export function columnFact(c: ColumnFact): string {
  const nullability = c.nullable ? "null" : "not null";
  const byDefault = c.default === null ? "" : ` default ${c.default}`;
  return `column ${c.table}.${c.column} ${c.type} ${nullability}${byDefault}`;
}

export const primaryKeyFact = (name: string, table: string, columns: readonly string[]) =>
  `primary key ${name} on ${table} (${columns.join(", ")})`;

export function indexFact(i: IndexFact): string {
  const columns = i.columns.map((c) => (c.descending ? `${c.name} desc` : c.name)).join(", ");
  const kind = i.unique ? "unique index" : "index";
  const where = i.predicate === null ? "" : ` where ${i.predicate}`;
  const nulls = i.nullsNotDistinct ? " nulls not distinct" : "";
  return `${kind} ${i.name} on ${i.table} using ${i.method} (${columns})${where}${nulls}`;
}

export function foreignKeyFact(f: ForeignKeyFact): string {
  return (
    `foreign key ${f.name} on ${f.table} (${f.columns.join(", ")}) ` +
    `references ${f.referencedTable} (${f.referencedColumns.join(", ")}) ` +
    `on delete ${f.onDelete} on update ${f.onUpdate}`
  );
}

export const triggerFact = (name: string, table: string) => `trigger ${name} on ${table}`;

export const checkFact = (name: string, table: string) => `check ${name} on ${table}`;

/** Postgres's identifier limit: longer names are cut, and Prisma's default names are cut to fit it. */
const MAX_IDENTIFIER_LENGTH = 63;

/**
 * The name Prisma gives a key, index or foreign key that has no `map:` (`users_email_key`,
 * `connections_user_id_fkey`): table and columns joined by `_`, cut to fit the suffix within
 * Postgres's identifier limit.
 */
export function defaultConstraintName(
  table: string,
  columns: readonly string[],
  suffix: "pkey" | "key" | "idx" | "fkey",
): string {
  if (suffix === "pkey") return `${table}_pkey`;
  const base = [table, ...columns].join("_");
  return `${base.slice(0, MAX_IDENTIFIER_LENGTH - suffix.length - 1)}_${suffix}`;
}
