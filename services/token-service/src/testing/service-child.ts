// Token-service replicas under test: their environment, one in the test's process (runService),
// or one as its own process (main.ts, as the image runs it) for tests that stop it, kill it, or cut
// it off from Postgres. Not used in production.
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { type RunningServiceOf, runService } from "@syncwell/service";
import { freePort, type TestNats, waitFor } from "@syncwell/testing";
import { tokenService } from "../service.ts";
import { API_TOKEN, keyList } from "./fixtures.ts";
import { simulatorProviderEnv } from "./refresh-support.ts";

/**
 * The environment of a replica on the test's database, NATS prefix and simulator, with one
 * encryption key (`k1`) and test-sized streams; `extra` adds or overrides variables.
 */
export function tokenServiceTestEnv(
  deps: { databaseUrl: string; nats: TestNats; simUrl: string; key: string },
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    DATABASE_URL: deps.databaseUrl,
    NATS_URL: deps.nats.url,
    NATS_PREFIX: deps.nats.prefix,
    HTTP_HOST: "127.0.0.1",
    TOKEN_SERVICE_API_TOKEN: API_TOKEN,
    TOKEN_ENCRYPTION_KEYS: keyList({ k1: deps.key }),
    TOKEN_ENCRYPTION_CURRENT_KEY: "k1",
    // Child replicas run main.ts as production does: test-sized streams come from the env.
    NATS_STREAM_MAX_BYTES: "64MiB",
    NATS_STREAM_MAX_AGE: "1h",
    ...simulatorProviderEnv(deps.simUrl, { rateLimitPerSec: 10_000 }),
    ...extra,
  };
}

/** The token service run in the test's process: its context, HTTP server and parts (the refresh engine). */
export type TokenServiceReplica = RunningServiceOf<typeof tokenService>;

/** A replica in the test's process (the real consumers, no signal handlers) on a free port. */
export async function startTestReplica(
  env: Record<string, string>,
  nats: TestNats,
): Promise<TokenServiceReplica> {
  return runService(tokenService, {
    handleSignals: false,
    streamOverrides: nats.streamOverrides,
    env: { ...env, HTTP_PORT: String(await freePort()) },
  });
}

const mainPath = fileURLToPath(new URL("../main.ts", import.meta.url));

export type ServiceChild = {
  readonly process: ChildProcess;
  /** Log lines parsed so far. */
  readonly lines: Record<string, unknown>[];
  /** Everything it printed (stdout and stderr). */
  output(): string;
  /** Resolves with the exit code or signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly running: boolean;
  /** `/readyz` status, or 0 when nothing answers. */
  readyz(): Promise<number>;
  /** Waits for "token-service ready" (consumers bound); throws with its output if it exits first. */
  ready(timeoutMs?: number): Promise<void>;
};

export function spawnTokenService(env: Record<string, string>, port: number): ServiceChild {
  const child = spawn(process.execPath, [mainPath], {
    env: { ...process.env, ...env, HTTP_HOST: "127.0.0.1", HTTP_PORT: String(port) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: Record<string, unknown>[] = [];
  let output = "";
  let running = true;
  createInterface({ input: child.stdout }).on("line", (line) => {
    output += `${line}\n`;
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // not a log line
    }
  });
  child.stderr.on("data", (chunk) => {
    output += String(chunk);
  });
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
    async readyz() {
      try {
        const response = await fetch(`http://127.0.0.1:${port}/readyz`, {
          signal: AbortSignal.timeout(3_000),
        });
        return response.status;
      } catch {
        return 0;
      }
    },
    async ready(timeoutMs = 30_000) {
      await waitFor(
        () => {
          if (!running) throw new Error(`token service exited before it was ready:\n${output.slice(-3_000)}`);
          return lines.some((l) => l.msg === "token-service ready");
        },
        "the token service to be ready",
        { timeoutMs },
      );
    },
  };
}
