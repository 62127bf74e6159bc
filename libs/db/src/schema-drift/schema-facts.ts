// What schema.prisma declares, read through Prisma's own schema parser (`getDMMF`, the WebAssembly
// build the CLI uses; no engine binary, no database) and written as facts, in the form Prisma's
// migrations give the Postgres objects (its type mapping, its default names).

import { getDMMF } from "@prisma/get-dmmf";
import {
  columnFact,
  defaultConstraintName,
  foreignKeyFact,
  indexFact,
  primaryKeyFact,
  type ReferentialAction,
  tableFact,
} from "./facts.ts";

type Document = Exclude<ReturnType<typeof getDMMF>, { type: "wasm-error" | "parse-json" }>;
type Model = Document["datamodel"]["models"][number];
type Field = Model["fields"][number];
type Index = Document["datamodel"]["indexes"][number];

/** Turns a partial index's predicate into the text Postgres writes back for it, on that table. */
export type PredicateNormalizer = (table: string, predicate: string) => Promise<string>;

export async function schemaFacts(
  schema: string,
  normalizePredicate: PredicateNormalizer,
): Promise<string[]> {
  const dmmf = await getDMMF({ datamodel: schema });
  if ("reason" in dmmf)
    throw new Error(`schema.prisma could not be read: ${dmmf.reason}`, { cause: dmmf.error });
  const { models, indexes, enums } = dmmf.datamodel;
  if (enums.length > 0) throw new Error("enums are not compared yet: map them to Postgres types here");

  const predicates = partialIndexPredicates(schema, models);
  const facts: string[] = [];
  for (const model of models) {
    facts.push(tableFact(tableOf(model)));
    for (const field of model.fields) {
      if (field.kind === "scalar") facts.push(columnFact(declaredColumn(model, field)));
      if (field.kind === "object" && field.relationFromFields?.length) {
        facts.push(declaredForeignKey(models, model, field));
      }
    }
  }
  for (const index of indexes) {
    const model = modelNamed(models, index.model);
    facts.push(await declaredIndex(model, index, predicates, normalizePredicate));
  }
  return facts;
}

const tableOf = (model: Model) => model.dbName ?? model.name;

const columnOf = (model: Model, fieldName: string) => {
  const field = model.fields.find((f) => f.name === fieldName);
  if (!field) throw new Error(`${model.name} has no field ${fieldName}`);
  return field.dbName ?? field.name;
};

function modelNamed(models: readonly Model[], name: string): Model {
  const model = models.find((m) => m.name === name);
  if (!model) throw new Error(`schema.prisma has no model ${name}`);
  return model;
}

function declaredColumn(model: Model, field: Field) {
  return {
    table: tableOf(model),
    column: field.dbName ?? field.name,
    type: postgresType(model, field),
    // Prisma creates scalar lists without NOT NULL even when the field is required.
    nullable: field.isList || !field.isRequired,
    default: postgresDefault(model, field),
  };
}

/** Prisma's scalar and `@db.*` native types, as Postgres's `format_type` names them. */
function postgresType(model: Model, field: Field): string {
  const [native, args = []] = field.nativeType ?? [];
  const precision = args.length > 0 ? `(${args.join(",")})` : "";
  const key = native ? `${field.type} @db.${native}` : field.type;
  const types: Record<string, string> = {
    String: "text",
    "String @db.Text": "text",
    "String @db.Uuid": "uuid",
    "String @db.VarChar": `character varying${precision}`,
    Int: "integer",
    "Int @db.SmallInt": "smallint",
    BigInt: "bigint",
    Float: "double precision",
    // Prisma's Decimal without a native type is DECIMAL(65,30).
    Decimal: "numeric(65,30)",
    "Decimal @db.Decimal": `numeric${precision}`,
    Boolean: "boolean",
    Json: "jsonb",
    Bytes: "bytea",
    DateTime: "timestamp(3) without time zone",
    "DateTime @db.Timestamptz": `timestamp${precision || "(6)"} with time zone`,
    "DateTime @db.Timestamp": `timestamp${precision || "(6)"} without time zone`,
  };
  const type = types[key];
  if (!type) throw new Error(`${model.name}.${field.name}: no Postgres type known for ${key}`);
  return field.isList ? `${type}[]` : type;
}

/** Functions Prisma Client evaluates itself: the column has no default in the database. */
const CLIENT_SIDE_DEFAULTS = new Set(["uuid", "cuid", "nanoid", "ulid"]);

/** A field's `@default`, as Postgres's `pg_get_expr` writes the column default Prisma creates. */
function postgresDefault(model: Model, field: Field): string | null {
  const value = field.default;
  if (value === undefined) return null;
  const type = postgresType(model, field);
  if (Array.isArray(value)) {
    if (value.length > 0)
      throw new Error(`${model.name}.${field.name}: non-empty list defaults are not mapped`);
    return `ARRAY[]::${type}`;
  }
  if (typeof value === "object" && value !== null && "name" in value) {
    if (value.name === "now") return "CURRENT_TIMESTAMP";
    // A SERIAL / BIGSERIAL column: its sequence, named as Postgres names it.
    if (value.name === "autoincrement") {
      return `nextval('${tableOf(model)}_${field.dbName ?? field.name}_seq'::regclass)`;
    }
    if (CLIENT_SIDE_DEFAULTS.has(value.name)) return null;
    throw new Error(`${model.name}.${field.name}: @default(${value.name}()) is not mapped`);
  }
  if (typeof value === "boolean" || typeof value === "number") {
    if (field.type === "Float") throw new Error(`${model.name}.${field.name}: Float defaults are not mapped`);
    return String(value);
  }
  return `'${String(value).replaceAll("'", "''")}'::${type}`;
}

/** Prisma's referential actions (DMMF spelling) and the defaults it applies when none is given. */
const ACTIONS: Record<string, ReferentialAction> = {
  Cascade: "cascade",
  Restrict: "restrict",
  NoAction: "no action",
  SetNull: "set null",
  SetDefault: "set default",
};

function declaredForeignKey(models: readonly Model[], model: Model, field: Field): string {
  const target = modelNamed(models, field.type);
  const columns = (field.relationFromFields ?? []).map((name) => columnOf(model, name));
  const action = (name: string | undefined, fallback: ReferentialAction) => {
    if (name === undefined) return fallback;
    const mapped = ACTIONS[name];
    if (!mapped) throw new Error(`${model.name}.${field.name}: unknown referential action ${name}`);
    return mapped;
  };
  return foreignKeyFact({
    name: defaultConstraintName(tableOf(model), columns, "fkey"),
    table: tableOf(model),
    columns,
    referencedTable: tableOf(target),
    referencedColumns: (field.relationToFields ?? []).map((name) => columnOf(target, name)),
    onDelete: action(field.relationOnDelete, field.isRequired ? "restrict" : "set null"),
    onUpdate: action(field.relationOnUpdate, "cascade"),
  });
}

async function declaredIndex(
  model: Model,
  index: Index,
  predicates: Map<string, string>,
  normalizePredicate: PredicateNormalizer,
): Promise<string> {
  const table = tableOf(model);
  const columns = index.fields.map((f) => columnOf(model, f.name));
  if (index.type === "id") {
    return primaryKeyFact(index.dbName ?? defaultConstraintName(table, columns, "pkey"), table, columns);
  }
  if (index.type === "fulltext") throw new Error(`${model.name}: fulltext indexes are not mapped`);
  const name = index.dbName ?? defaultConstraintName(table, columns, index.type === "unique" ? "key" : "idx");
  const predicate = predicates.get(`${model.name} ${name}`);
  return indexFact({
    name,
    table,
    unique: index.type === "unique",
    method: index.algorithm?.toLowerCase() ?? "btree",
    columns: index.fields.map((f) => ({ name: columnOf(model, f.name), descending: f.sortOrder === "desc" })),
    predicate: predicate === undefined ? null : await normalizePredicate(table, predicate),
    nullsNotDistinct: false,
  });
}

/**
 * The `where: raw("…")` of partial indexes (the `partialIndexes` preview feature), keyed by model
 * and index name: the DMMF does not carry them, so they are read from the block attributes' text.
 */
function partialIndexPredicates(schema: string, models: readonly Model[]): Map<string, string> {
  const predicates = new Map<string, string>();
  for (const block of schema.matchAll(/^model\s+(\w+)\s*\{([\s\S]*?)^\}/gm)) {
    const model = modelNamed(models, block[1] ?? "");
    for (const line of (block[2] ?? "").matchAll(/^\s*@@(index|unique)\(\[([^\]]*)\](.*)\)\s*$/gm)) {
      const where = /where:\s*raw\("((?:[^"\\]|\\.)*)"\)/.exec(line[3] ?? "");
      if (!where) continue;
      const columns = (line[2] ?? "").split(",").map((f) => columnOf(model, f.trim().replace(/\(.*$/, "")));
      const map = /map:\s*"([^"]+)"/.exec(line[3] ?? "")?.[1];
      const suffix = line[1] === "unique" ? "key" : "idx";
      const name = map ?? defaultConstraintName(tableOf(model), columns, suffix);
      predicates.set(`${model.name} ${name}`, JSON.parse(`"${where[1]}"`) as string);
    }
  }
  return predicates;
}
