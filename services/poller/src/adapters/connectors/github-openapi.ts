/**
 * Test support: GitHub's own OpenAPI description (`@octokit/openapi`, a dev dependency), for
 * feeding connectors the examples GitHub publishes with it. Read from its JSON file, once per test
 * file (13 MB): the package's index loads every GitHub edition's description (385 MB).
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

type Description = { components: { examples: Record<string, { value: unknown }> } };

let description: Description | undefined;

function load(): Description {
  const path = createRequire(import.meta.url).resolve("@octokit/openapi/generated/api.github.com.json");
  description ??= JSON.parse(readFileSync(path, "utf8")) as Description;
  return description;
}

/** A copy of `components.examples[name].value` (a test may change it freely). */
export function githubExample<T = unknown>(name: string): T {
  const example = load().components.examples[name];
  if (example === undefined) throw new Error(`GitHub's description has no example ${name}`);
  return structuredClone(example.value) as T;
}
