import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { afterEach, describe, expect, it } from "vitest";
import { catalog, eventTypes } from "./catalog.ts";
import { createEvent } from "./create-event.ts";
import { defaultSchemaDir, diffSchemaDir, writeSchemaDir } from "./export-json-schema.ts";
import { schemaFileName, schemaFiles, type schemaIndex } from "./json-schema.ts";
import { streamForSubject } from "./streams.ts";

const run = promisify(execFile);
const cli = join(import.meta.dirname, "export-json-schema.ts");

function readSchema(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(defaultSchemaDir, name), "utf8"));
}

function newAjv() {
  const ajv = new Ajv2020.default({ allErrors: true, strict: true, allowUnionTypes: true });
  addFormats.default(ajv);
  return ajv;
}

describe("checked-in JSON Schemas", () => {
  it("are up to date with the event definitions", () => {
    expect(diffSchemaDir(defaultSchemaDir)).toEqual({ missing: [], stale: [], extra: [] });
  });

  it("are generated deterministically, one per event type plus envelope and index", () => {
    const first = schemaFiles();
    expect([...first.keys()]).toEqual(
      ["envelope.json", "index.json", ...eventTypes.map((t) => schemaFileName(t, catalog[t].version))].sort(),
    );
    expect(schemaFiles()).toEqual(first);
    for (const content of first.values()) expect(content.endsWith("}\n")).toBe(true);
  });

  it("index every type with its file, subject pattern, version and stream", () => {
    const index = readSchema("index.json") as ReturnType<typeof schemaIndex>;
    expect(Object.keys(index.events)).toEqual(eventTypes);
    for (const type of eventTypes) {
      const entry = index.events[type];
      expect(entry).toMatchObject({
        version: catalog[type].version,
        subjectPattern: catalog[type].subjectPattern,
        stream: streamForSubject(catalog[type].subjectPattern)?.name,
      });
      expect(readSchema(entry?.file ?? "")).toMatchObject({ title: `${type} v1` });
    }
  });

  describe.each(eventTypes)("%s", (type) => {
    const def = catalog[type];
    const schema = readSchema(schemaFileName(type, def.version));
    const validate = newAjv().compile(schema);

    it("is a draft 2020-12 schema with $id, title, description and the examples", () => {
      expect(schema).toMatchObject({
        $schema: "https://json-schema.org/draft/2020-12/schema",
        $id: `urn:syncwell:schema:${type}:v1`,
        title: `${type} v1`,
        examples: JSON.parse(JSON.stringify(def.examples)),
      });
      expect(schema.description).toContain(def.description);
    });

    it("accepts every example and what createEvent builds", () => {
      for (const example of def.examples) {
        expect(validate(example), JSON.stringify(validate.errors)).toBe(true);
        const built = createEvent(type, example.data as never, { source: example.source });
        expect(validate(JSON.parse(JSON.stringify(built))), JSON.stringify(validate.errors)).toBe(true);
      }
    });

    it("rejects what the zod schema rejects: unknown keys, a missing field, the wrong type", () => {
      const [example] = def.examples;
      if (!example) throw new Error("no example");
      const data = example.data as Record<string, unknown>;
      const [firstField] = Object.keys(data);
      const { [firstField ?? ""]: _, ...missing } = data;
      for (const bad of [
        { ...example, data: { ...data, extra: 1 } },
        { ...example, data: missing },
        { ...example, data: { ...data, [firstField ?? ""]: 12 } },
        { ...example, version: 2 },
        { ...example, occurredAt: "yesterday" },
      ]) {
        expect(validate(bad)).toBe(false);
        expect(def.envelope.safeParse(bad).success).toBe(false);
      }
    });
  });

  it("include an envelope schema that accepts any catalogued event", () => {
    const validate = newAjv().compile(readSchema("envelope.json"));
    for (const type of eventTypes) {
      for (const example of catalog[type].examples) expect(validate(example)).toBe(true);
    }
    expect(validate({ id: "x", type: "tick" })).toBe(false);
  });
});

describe("export-json-schema CLI", () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  function copyOfSchemas(): string {
    dir = mkdtempSync(join(tmpdir(), "syncwell-contracts-"));
    cpSync(defaultSchemaDir, dir, { recursive: true });
    return dir;
  }

  it("--check passes on an up-to-date directory", async () => {
    const out = copyOfSchemas();
    const { stdout } = await run(process.execPath, [cli, "--check", "--out", out]);
    expect(stdout).toContain("up to date");
  });

  it("--check exits 1 naming stale, missing and extra files", async () => {
    const out = copyOfSchemas();
    const stale = join(out, "token.failed.v1.json");
    writeFileSync(
      stale,
      readFileSync(stale, "utf8").replace("Connection status after this attempt", "Old text"),
    );
    unlinkSync(join(out, "data.ingested.v1.json"));
    writeFileSync(join(out, "token.exploded.v1.json"), "{}\n");

    const failure = await run(process.execPath, [cli, "--check", "--out", out]).then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toContain("differ from the event definitions");
    expect(failure?.stderr).toMatch(/stale:\s+token\.failed\.v1\.json/);
    expect(failure?.stderr).toMatch(/missing:\s+data\.ingested\.v1\.json/);
    expect(failure?.stderr).toMatch(/extra:\s+token\.exploded\.v1\.json/);
    expect(failure?.stderr).toContain("npm run contracts:export");
  });

  it("export repairs a directory, after which --check passes", async () => {
    const out = copyOfSchemas();
    unlinkSync(join(out, "tick.v1.json"));
    writeFileSync(join(out, "old.v1.json"), "{}\n");
    expect(writeSchemaDir(out)).toEqual({ missing: ["tick.v1.json"], stale: [], extra: ["old.v1.json"] });
    expect(diffSchemaDir(out)).toEqual({ missing: [], stale: [], extra: [] });
    const { stdout } = await run(process.execPath, [cli, "--out", out]);
    expect(stdout).toContain("already up to date");
  });
});
