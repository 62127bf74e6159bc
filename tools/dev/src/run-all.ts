/**
 * Runs the provider simulator and the five services as child processes of this one, on the same
 * Node, with every output line prefixed by the process's name, and supervises them: one that ends
 * (crash, kill -9, any exit code) is started again after a backoff (1 s doubling to 30 s, back to
 * 1 s once it stayed up a minute) with one line saying so, while the others keep running. Only
 * Ctrl-C or SIGTERM stops everything: SIGTERM to every child, then a wait (DEV_SHUTDOWN_TIMEOUT_MS,
 * default 15 s, then SIGKILL); a second Ctrl-C kills at once.
 *
 * Started by scripts/start.sh, which first makes sure Postgres, NATS and the database are there.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { styleText } from "node:util";
import {
  childEnv,
  formatLabel,
  localDevEnv,
  nodeArgs,
  PROCESSES,
  type ProcessSpec,
  wantColor,
} from "./processes.ts";
import { type Supervised, Supervisor, stopOnSignals } from "./supervisor.ts";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const SHUTDOWN_TIMEOUT_MS = Number(process.env.DEV_SHUTDOWN_TIMEOUT_MS) || 15_000;
const LABEL_WIDTH = Math.max("run-all".length, ...PROCESSES.map((p) => p.name.length));
const color = wantColor(process.env, process.stdout.isTTY === true);

function say(message: string): void {
  const label = `${"run-all".padEnd(LABEL_WIDTH)} │`;
  process.stdout.write(`${color ? styleText("bold", label, { validateStream: false }) : label} ${message}\n`);
}

function telemetryPreloadAvailable(): boolean {
  try {
    return existsSync(fileURLToPath(import.meta.resolve("@syncwell/telemetry/register")));
  } catch {
    return false;
  }
}

function pipeLines(input: Readable, output: NodeJS.WritableStream, label: string): void {
  createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY }).on("line", (line) => {
    output.write(`${label} ${line}\n`);
  });
}

function supervised(spec: ProcessSpec, telemetry: boolean): Supervised {
  const label = formatLabel(spec, LABEL_WIDTH, color);
  return {
    name: spec.name,
    spawn: () => {
      const child = spawn(process.execPath, nodeArgs(spec, telemetry), {
        cwd: ROOT,
        env: childEnv(spec, { base: process.env, color }),
        stdio: ["ignore", "pipe", "pipe"],
        // Its own process group: a terminal's Ctrl-C reaches only this runner, which then sends
        // each child exactly one SIGTERM (and can kill a whole group if it has to).
        detached: true,
      });
      if (child.stdout) pipeLines(child.stdout, process.stdout, label);
      if (child.stderr) pipeLines(child.stderr, process.stderr, label);
      return child;
    },
  };
}

function main(): void {
  const telemetry = telemetryPreloadAvailable();
  if (!telemetry) say("@syncwell/telemetry/register not found: starting the services without telemetry");
  const placeholders = Object.keys(localDevEnv("")).filter((key) => process.env[key] === undefined);
  if (placeholders.length > 0) {
    say(
      `local placeholder values (API tokens, encryption key, simulator OAuth clients) for ${placeholders.length} variables`,
    );
  }

  const supervisor = new Supervisor({ log: say, shutdownTimeoutMs: SHUTDOWN_TIMEOUT_MS });
  // Before the first spawn: a signal must never leave children behind in their own process groups.
  stopOnSignals(supervisor, say);

  for (const spec of PROCESSES) {
    if (!existsSync(join(ROOT, spec.entry))) {
      say(`skipping ${spec.name}: ${spec.entry} does not exist yet`);
      continue;
    }
    supervisor.add(supervised(spec, telemetry));
    say(`started ${spec.name} on http://127.0.0.1:${spec.port}`);
  }
  if (supervisor.running() === 0) {
    say("nothing to run");
    process.exit(1);
  }
}

main();
