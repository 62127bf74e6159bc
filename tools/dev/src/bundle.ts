/**
 * `npm run build`: each service as one ES module, `services/<name>/dist/main.mjs`, and the
 * telemetry preload as `libs/telemetry/dist/register.mjs`. The project's own code (every
 * `@syncwell/*` library) is inlined with its types stripped; packages from npm stay imports, resolved
 * from node_modules at run time as before. The image runs these (scripts/docker-entrypoint.sh) and
 * so do the benches of the services that have memory targets: a process that runs TypeScript
 * sources through Node's type stripping holds its compiler and a second copy of every source, about
 * 35 MB of its memory (docs/decisions/0019).
 *
 * The bundles are not minified and keep each module's path in a `//#region` comment, so a stack
 * trace's function names and the region around its line lead back to the source file.
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { rolldown } from "rolldown";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** The services an image runs. */
export const BUNDLED_SERVICES = [
  "scheduler",
  "token-service",
  "poller",
  "health-scorer",
  "notifier",
] as const;
export type BundledService = (typeof BUNDLED_SERVICES)[number];

/** Where a service's bundle is, relative to the repository root. */
export const serviceBundle = (name: BundledService): string => `services/${name}/dist/main.mjs`;

/** The telemetry preload's bundle (`node --import` it before a service's bundle), relative to the root. */
export const TELEMETRY_PRELOAD_BUNDLE = "libs/telemetry/dist/register.mjs";

/** Inlined: the project's own modules (relative paths and `@syncwell/*`); anything else is a package. */
function isPackage(id: string): boolean {
  return !(id.startsWith(".") || id.startsWith("/") || id.startsWith("@syncwell/"));
}

/** One entry and the chunks it imports lazily, written to `outDir` (emptied first: no stale chunk stays). */
async function bundle(input: string, outDir: string, entryFileName: string): Promise<void> {
  await rm(outDir, { recursive: true, force: true });
  const build = await rolldown({ input, platform: "node", external: isPackage, logLevel: "warn" });
  try {
    await build.write({
      dir: outDir,
      format: "esm",
      entryFileNames: entryFileName,
      chunkFileNames: "[name]-[hash].mjs",
    });
  } finally {
    await build.close();
  }
}

/** Builds the bundles of `services` (all by default) and the telemetry preload. */
export async function buildBundles(
  services: readonly BundledService[] = BUNDLED_SERVICES,
  log: (line: string) => void = () => {},
): Promise<void> {
  const started = performance.now();
  for (const name of services) {
    await bundle(join(ROOT, `services/${name}/src/main.ts`), join(ROOT, `services/${name}/dist`), "main.mjs");
  }
  await bundle(
    join(ROOT, "libs/telemetry/src/register.ts"),
    join(ROOT, "libs/telemetry/dist"),
    "register.mjs",
  );
  log(
    `bundled ${services.join(", ")} and the telemetry preload in ${Math.round(performance.now() - started)} ms`,
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await buildBundles(BUNDLED_SERVICES, (line) => process.stdout.write(`${line}\n`));
}
