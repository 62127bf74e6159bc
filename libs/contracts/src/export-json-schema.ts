/**
 * Writes the contracts' JSON Schemas to libs/contracts/schemas (or --out <dir>).
 *   node src/export-json-schema.ts            write the files, remove stale *.json
 *   node src/export-json-schema.ts --check    exit 1 if the files differ from what would be written
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { schemaFiles } from "./json-schema.ts";

export const defaultSchemaDir = resolve(import.meta.dirname, "../schemas");

export type SchemaDirDiff = { missing: string[]; stale: string[]; extra: string[] };

function jsonFilesIn(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith(".json"))
    .sort();
}

/** Compares `dir` with the files the contracts would produce. */
export function diffSchemaDir(dir: string, expected = schemaFiles()): SchemaDirDiff {
  const present = jsonFilesIn(dir);
  const missing: string[] = [];
  const stale: string[] = [];
  for (const [name, content] of expected) {
    if (!present.includes(name)) missing.push(name);
    else if (readFileSync(join(dir, name), "utf8") !== content) stale.push(name);
  }
  const extra = present.filter((name) => !expected.has(name));
  return { missing, stale, extra };
}

/** Writes every schema file into `dir` and removes *.json files no event produces any more. */
export function writeSchemaDir(dir: string, expected = schemaFiles()): SchemaDirDiff {
  const diff = diffSchemaDir(dir, expected);
  mkdirSync(dir, { recursive: true });
  for (const name of [...diff.missing, ...diff.stale])
    writeFileSync(join(dir, name), expected.get(name) ?? "");
  for (const name of diff.extra) rmSync(join(dir, name));
  return diff;
}

function describeDiff(diff: SchemaDirDiff, labels: Record<keyof SchemaDirDiff, string>): string[] {
  return (["missing", "stale", "extra"] as const).flatMap((kind) =>
    diff[kind].map((name) => `  ${labels[kind].padEnd(8)} ${name}`),
  );
}

function main(argv: string[]): number {
  const { values } = parseArgs({
    args: argv,
    options: { check: { type: "boolean", default: false }, out: { type: "string" } },
  });
  const dir = values.out ? resolve(values.out) : defaultSchemaDir;
  // npm runs workspace scripts in the workspace; name the directory as seen from where npm was invoked.
  const shown = relative(process.env.INIT_CWD ?? process.cwd(), dir) || ".";
  if (values.check) {
    const diff = diffSchemaDir(dir);
    const lines = describeDiff(diff, { missing: "missing:", stale: "stale:", extra: "extra:" });
    if (lines.length === 0) {
      console.log(`contracts: JSON Schemas in ${shown} are up to date`);
      return 0;
    }
    console.error(
      [
        `contracts: JSON Schemas in ${shown} differ from the event definitions:`,
        ...lines,
        "Run `npm run contracts:export` and commit the result.",
      ].join("\n"),
    );
    return 1;
  }
  const lines = describeDiff(writeSchemaDir(dir), {
    missing: "added:",
    stale: "updated:",
    extra: "removed:",
  });
  console.log(
    lines.length === 0
      ? `contracts: JSON Schemas in ${shown} already up to date`
      : [`contracts: updated JSON Schemas in ${shown}:`, ...lines].join("\n"),
  );
  return 0;
}

if (import.meta.main) {
  process.exitCode = main(process.argv.slice(2));
}
