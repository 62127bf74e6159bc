// A service run as its own process, from its sources (`services/<name>/src/main.ts`) or as its image
// runs it (its bundle, `services/<name>/dist/main.mjs`: npm run build), for tests and benchmarks that
// kill it, cut it off, measure its memory, or run the system end to end.
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { TestNats } from "./nats.ts";
import { waitFor } from "./wait.ts";

const root = fileURLToPath(new URL("../../../", import.meta.url));

export type ServiceProcess = {
  readonly process: ChildProcess;
  /** Log lines parsed so far. */
  readonly lines: Record<string, unknown>[];
  /** Everything it printed (stdout and stderr; the last 1 MB). */
  output(): string;
  /** Resolves with the exit code or signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly running: boolean;
  /** `/readyz` status, or 0 when nothing answers. */
  readyz(): Promise<number>;
  /**
   * Waits for "<name> ready" (consumers bound) in its log, or for /readyz to answer 200 (a log
   * level above info prints no such line); throws with its output if it exits first.
   */
  ready(timeoutMs?: number): Promise<void>;
};

export type ServiceProcessOptions = {
  /** Node flags before the entry point, e.g. ["--max-semi-space-size=64"]. */
  nodeArgs?: readonly string[];
  /** Pass on the test's own environment under `env` (default true); false: PATH only. */
  inheritEnv?: boolean;
  /** The entry file, relative to the repository root (default `services/<name>/src/main.ts`). */
  entry?: string;
};

const OUTPUT_KEPT = 1_000_000;

/**
 * What every service process under test needs: the test's database, NATS under the test's prefix,
 * and streams sized for a test (main.ts reads them from the environment, as in production).
 */
export function serviceProcessEnv(
  deps: { databaseUrl: string; nats: Pick<TestNats, "url" | "prefix"> },
  options: { streamMaxBytes?: string } = {},
): Record<string, string> {
  return {
    DATABASE_URL: deps.databaseUrl,
    NATS_URL: deps.nats.url,
    NATS_PREFIX: deps.nats.prefix,
    NATS_STREAM_MAX_BYTES: options.streamMaxBytes ?? "64MiB",
    NATS_STREAM_MAX_AGE: "1h",
  };
}

/** Starts `services/<name>/src/main.ts` (or `options.entry`) with `env`, listening on 127.0.0.1:`port`. */
export function spawnService(
  name: string,
  env: Record<string, string>,
  port: number,
  options: ServiceProcessOptions = {},
): ServiceProcess {
  const base = options.inheritEnv === false ? { PATH: process.env.PATH ?? "" } : process.env;
  const entry = options.entry ?? `services/${name}/src/main.ts`;
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), entry], {
    cwd: root,
    env: { ...base, ...env, HTTP_HOST: "127.0.0.1", HTTP_PORT: String(port) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: Record<string, unknown>[] = [];
  let output = "";
  let running = true;
  const keep = (text: string) => {
    output = (output + text).slice(-OUTPUT_KEPT);
  };
  createInterface({ input: child.stdout }).on("line", (line) => {
    keep(`${line}\n`);
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // not a log line
    }
  });
  child.stderr.on("data", (chunk) => keep(String(chunk)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => {
      running = false;
      resolve({ code, signal });
    }),
  );
  return {
    process: child,
    lines,
    output: () => output,
    exited,
    get running() {
      return running;
    },
    readyz: () => readyzStatus(port),
    async ready(timeoutMs = 30_000) {
      await waitFor(
        async () => {
          if (!running) throw new Error(`${name} exited before it was ready:\n${output.slice(-3_000)}`);
          return lines.some((l) => l.msg === `${name} ready`) || (await readyzStatus(port)) === 200;
        },
        `${name} to be ready`,
        { timeoutMs },
      );
    },
  };
}

async function readyzStatus(port: number): Promise<number> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(3_000) });
    return response.status;
  } catch {
    return 0;
  }
}
