import { existsSync } from "node:fs";
import { resolve } from "node:path";

/** The repository's root (where `npm` scripts and the services' relative paths start). */
export const repoRoot = resolve(import.meta.dirname, "../../..");

/**
 * The Node a service runs on in production, for tests that start one as its own process: the
 * `node` devDependency's Node 22 when installed, else the Node running the tests.
 */
export const nodeBinary: string = (() => {
  const node22 = resolve(repoRoot, "node_modules/.bin/node");
  return existsSync(node22) ? node22 : process.execPath;
})();
