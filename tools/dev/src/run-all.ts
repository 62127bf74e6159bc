/**
 * Runs the provider simulator and the five services as child processes of this one, on the same
 * Node, with every output line prefixed by the process's name. Nothing is restarted: when one
 * process ends on its own, the others are stopped too, so a crash is seen rather than hidden.
 * Ctrl-C or SIGTERM sends SIGTERM to every child and waits for them (DEV_SHUTDOWN_TIMEOUT_MS,
 * default 15 s, then SIGKILL); a second Ctrl-C kills at once.
 *
 * Started by scripts/start.sh, which first makes sure Postgres, NATS and the database are there.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { styleText } from "node:util";
import {
  childEnv,
  describeExit,
  formatLabel,
  localDevEnv,
  nodeArgs,
  PROCESSES,
  type ProcessSpec,
  wantColor,
} from "./processes.ts";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const SHUTDOWN_TIMEOUT_MS = Number(process.env.DEV_SHUTDOWN_TIMEOUT_MS) || 15_000;
const LABEL_WIDTH = Math.max("run-all".length, ...PROCESSES.map((p) => p.name.length));
const color = wantColor(process.env, process.stdout.isTTY === true);

type Running = {
  readonly spec: ProcessSpec;
  readonly child: ChildProcess;
  readonly closed: Promise<void>;
  ended: boolean;
};

const running: Running[] = [];
let stopping = false;

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

function start(spec: ProcessSpec, telemetry: boolean): Running {
  const child = spawn(process.execPath, nodeArgs(spec, telemetry), {
    cwd: ROOT,
    env: childEnv(spec, { base: process.env, color }),
    stdio: ["ignore", "pipe", "pipe"],
    // Its own process group: a terminal's Ctrl-C reaches only this runner, which then sends each
    // child exactly one SIGTERM (and can kill a whole group if it has to).
    detached: true,
  });
  const label = formatLabel(spec, LABEL_WIDTH, color);
  if (child.stdout) pipeLines(child.stdout, process.stdout, label);
  if (child.stderr) pipeLines(child.stderr, process.stderr, label);

  const entry: Running = {
    spec,
    child,
    ended: false,
    closed: new Promise((resolve) => {
      const finish = (how: string): void => {
        if (entry.ended) return;
        entry.ended = true;
        resolve();
        if (stopping) {
          say(`${spec.name} ${how}`);
        } else {
          say(`✖ ${spec.name} ${how} unexpectedly; stopping the others`);
          process.exitCode = 1;
          void stopAll();
        }
      };
      child.once("error", (error) => finish(`failed to start: ${error.message}`));
      child.once("close", (code, signal) => finish(describeExit(code, signal)));
    }),
  };
  return entry;
}

function signalGroup(entry: Running, signal: NodeJS.Signals): void {
  if (entry.ended || entry.child.pid === undefined) return;
  try {
    process.kill(-entry.child.pid, signal);
  } catch {
    entry.child.kill(signal);
  }
}

async function stopAll(): Promise<void> {
  if (stopping) return;
  stopping = true;
  const alive = running.filter((r) => !r.ended);
  for (const entry of alive) signalGroup(entry, "SIGTERM");

  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), SHUTDOWN_TIMEOUT_MS);
  });
  const outcome = await Promise.race([Promise.all(alive.map((r) => r.closed)), timedOut]);
  clearTimeout(timer);
  if (outcome === "timeout") {
    const stuck = running.filter((r) => !r.ended);
    say(
      `still running after ${SHUTDOWN_TIMEOUT_MS} ms, killing: ${stuck.map((r) => r.spec.name).join(", ")}`,
    );
    for (const entry of stuck) signalGroup(entry, "SIGKILL");
    await Promise.all(stuck.map((r) => r.closed));
    process.exitCode = 1;
  }
  process.exit();
}

function onSignal(signal: NodeJS.Signals): void {
  if (!stopping) {
    say(`${signal} received, stopping ${running.filter((r) => !r.ended).length} process(es)…`);
    void stopAll();
  } else if (signal === "SIGINT") {
    say("second Ctrl-C, killing everything");
    process.exitCode = 1;
    for (const entry of running) signalGroup(entry, "SIGKILL");
  }
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

  // Before the first spawn: a signal must never leave children behind in their own process groups.
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("SIGHUP", onSignal);
  // Last resort if this runner exits some other way with children still up.
  process.on("exit", () => {
    for (const entry of running) signalGroup(entry, "SIGKILL");
  });

  for (const spec of PROCESSES) {
    if (!existsSync(join(ROOT, spec.entry))) {
      say(`skipping ${spec.name}: ${spec.entry} does not exist yet`);
      continue;
    }
    running.push(start(spec, telemetry));
    say(`started ${spec.name} on http://127.0.0.1:${spec.port}`);
  }
  if (running.length === 0) {
    say("nothing to run");
    process.exit(1);
  }
}

main();
