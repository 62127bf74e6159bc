import { z } from "zod";
import { type Catalog, catalog, type EventType, eventTypes } from "./catalog.ts";
import { envelopeSchema } from "./envelope.ts";
import { streamForSubject } from "./streams.ts";

/**
 * JSON Schema (draft 2020-12) of the contracts, for people and tools outside TypeScript: an
 * operator publishing by hand, a consumer in another language. The schemas describe what
 * `validateEvent` accepts (zod's input side: fields with defaults are optional).
 */

export type JsonSchema = { [key: string]: unknown };

const DRAFT = "https://json-schema.org/draft/2020-12/schema";
/** Schemas are identified by URN: they are published as files in the repository, not served. */
const ID_PREFIX = "urn:syncwell:schema:";

export function schemaFileName(type: string, version: number): string {
  return `${type}.v${version}.json`;
}

/** Envelope schema of one event type, with its `$id`, title, description and examples. */
export function eventJsonSchema<T extends EventType>(type: T): JsonSchema {
  const def: Catalog[EventType] = catalog[type];
  const generated = z.toJSONSchema(def.envelope, { target: "draft-2020-12", io: "input" }) as JsonSchema;
  return canonical({
    ...generated,
    $schema: DRAFT,
    $id: `${ID_PREFIX}${type}:v${def.version}`,
    title: `${type} v${def.version}`,
    description: `${def.description} Subject: ${def.subjectPattern}.`,
    examples: def.examples,
  });
}

/** Schema of the envelope alone (any type, `data` unconstrained). */
export function envelopeJsonSchema(): JsonSchema {
  const generated = z.toJSONSchema(envelopeSchema, { target: "draft-2020-12", io: "input" }) as JsonSchema;
  return canonical({
    ...generated,
    $schema: DRAFT,
    $id: `${ID_PREFIX}envelope`,
    title: "Syncwell event envelope",
    description:
      "The envelope every Syncwell event travels in. `data` is described per type in <type>.v<version>.json (see index.json).",
  });
}

export type SchemaIndexEntry = {
  version: number;
  file: string;
  subjectPattern: string;
  stream: string;
  description: string;
};

/** type → schema file, subject pattern, version and stream. */
export function schemaIndex(): { envelope: string; events: Record<string, SchemaIndexEntry> } {
  const events: Record<string, SchemaIndexEntry> = {};
  for (const type of eventTypes) {
    const def: Catalog[EventType] = catalog[type];
    const stream = streamForSubject(def.subjectPattern);
    if (!stream)
      throw new Error(`no stream captures ${type} (subject ${def.subjectPattern}); add one to streams.ts`);
    events[type] = {
      version: def.version,
      file: schemaFileName(type, def.version),
      subjectPattern: def.subjectPattern,
      stream: stream.name,
      description: def.description,
    };
  }
  return { envelope: "envelope.json", events };
}

/** Every file of the `schemas/` directory: name → exact content (2-space JSON, trailing newline). */
export function schemaFiles(): Map<string, string> {
  const files = new Map<string, string>();
  const write = (name: string, value: unknown) => files.set(name, `${JSON.stringify(value, null, 2)}\n`);
  write("envelope.json", envelopeJsonSchema());
  for (const type of eventTypes) write(schemaFileName(type, catalog[type].version), eventJsonSchema(type));
  write("index.json", schemaIndex());
  return new Map([...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

// Keyword order of the emitted files: identity and documentation first, then the usual keywords in
// reading order, anything else alphabetically, examples last. Property order inside `properties`
// is kept (it follows the schema and reads like the event); values of data keywords (`const`,
// `enum`, `default`, `examples`) are left as they are.
const ORDER = [
  "$schema",
  "$id",
  "title",
  "description",
  "type",
  "const",
  "enum",
  "format",
  "pattern",
  "minLength",
  "maxLength",
  "minimum",
  "exclusiveMinimum",
  "maximum",
  "exclusiveMaximum",
  "default",
  "properties",
  "required",
  "additionalProperties",
  "propertyNames",
  "items",
  "anyOf",
  "oneOf",
  "allOf",
];
const LAST = ["examples"];
const SCHEMA_MAPS = new Set(["properties", "patternProperties", "$defs", "dependentSchemas"]);
const SCHEMA_LISTS = new Set(["allOf", "anyOf", "oneOf", "prefixItems"]);
const SCHEMA_VALUES = new Set([
  "additionalProperties",
  "items",
  "contains",
  "not",
  "if",
  "then",
  "else",
  "propertyNames",
  "unevaluatedItems",
  "unevaluatedProperties",
]);

function rank(key: string): [number, string] {
  const first = ORDER.indexOf(key);
  if (first !== -1) return [first, key];
  const last = LAST.indexOf(key);
  return [last === -1 ? ORDER.length : ORDER.length + 1 + last, key];
}

function canonical(schema: JsonSchema): JsonSchema {
  const keys = Object.keys(schema).sort((a, b) => {
    const [ra, ka] = rank(a);
    const [rb, kb] = rank(b);
    return ra - rb || (ka < kb ? -1 : ka > kb ? 1 : 0);
  });
  const out: JsonSchema = {};
  for (const key of keys) {
    const value = schema[key];
    if (SCHEMA_MAPS.has(key) && isObject(value)) {
      out[key] = Object.fromEntries(
        Object.entries(value).map(([name, sub]) => [name, isObject(sub) ? canonical(sub) : sub]),
      );
    } else if (SCHEMA_LISTS.has(key) && Array.isArray(value)) {
      out[key] = value.map((sub: unknown) => (isObject(sub) ? canonical(sub) : sub));
    } else if (SCHEMA_VALUES.has(key) && isObject(value)) {
      out[key] = canonical(value);
    } else {
      out[key] = value;
    }
  }
  return out;
}

function isObject(value: unknown): value is JsonSchema {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
