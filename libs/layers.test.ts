import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * The libraries' layers (docs/anatomy.md), lowest first: a library imports only libraries of lower
 * layers, so the generic pieces never pull in Postgres, NATS or a service. Services may import any
 * library, and no service imports another. `testing` is for tests only (any library's tests may use
 * it); it sits on the layers it sets up.
 */
const LAYERS: readonly (readonly string[])[] = [
  ["contracts", "telemetry", "runtime", "credentials"],
  ["db", "http-client", "communication"],
  ["bus", "rate-limit"],
  ["tick-runs", "testing"],
  ["service"],
];

const root = resolve(import.meta.dirname, "..");
const IMPORT = /(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s+["']@syncwell\/([a-z-]+)/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      return ["node_modules", "generated", "fixtures", "test", "testing"].includes(name)
        ? []
        : sourceFiles(path);
    }
    return name.endsWith(".ts") && !name.endsWith(".test.ts") ? [path] : [];
  });
}

/** The @syncwell packages a folder's production code imports, with the file that imports each. */
function importsOf(dir: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const file of sourceFiles(join(dir, "src"))) {
    for (const match of readFileSync(file, "utf8").matchAll(IMPORT)) {
      const name = match[1] as string;
      if (!found.has(name)) found.set(name, relative(root, file));
    }
  }
  return found;
}

function layerOf(lib: string): number {
  const layer = LAYERS.findIndex((names) => names.includes(lib));
  if (layer < 0) throw new Error(`libs/${lib} is in no layer: add it to LAYERS and docs/anatomy.md`);
  return layer;
}

const libs = readdirSync(join(root, "libs")).filter((name) =>
  statSync(join(root, "libs", name)).isDirectory(),
);
const services = readdirSync(join(root, "services")).filter((name) =>
  statSync(join(root, "services", name)).isDirectory(),
);

describe("layers", () => {
  it.each(libs)("libs/%s imports only libraries of lower layers, and declares them", (lib) => {
    const layer = layerOf(lib);
    const pkg = JSON.parse(readFileSync(join(root, "libs", lib, "package.json"), "utf8")) as {
      dependencies?: Record<string, string>;
    };
    const wrong: string[] = [];
    for (const [name, file] of importsOf(join(root, "libs", lib))) {
      if (name === lib) continue;
      if (services.includes(name) || layerOf(name) >= layer) wrong.push(`${file} imports @syncwell/${name}`);
      else if (!pkg.dependencies?.[`@syncwell/${name}`]) wrong.push(`@syncwell/${name} is not a dependency`);
    }
    expect(wrong).toEqual([]);
  });

  it.each(services)("services/%s imports no other service", (service) => {
    const others = [...importsOf(join(root, "services", service)).entries()]
      .filter(([name]) => services.includes(name) && name !== service)
      .map(([name, file]) => `${file} imports @syncwell/${name}`);
    expect(others).toEqual([]);
  });

  it("finds imports, so it can fail", () => {
    expect([...importsOf(join(root, "libs", "service")).keys()].sort()).toEqual(
      expect.arrayContaining(["bus", "db", "runtime", "telemetry"]),
    );
    expect(() => layerOf("not-a-lib")).toThrow(/in no layer/);
  });
});
