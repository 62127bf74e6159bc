/**
 * Keeps a set of child processes running: one that ends, however it ends, is started again after a
 * backoff while the others carry on. Only stop() (or a signal to this process, through
 * stopOnSignals) ends them all. What a child is and where its output goes is the caller's business:
 * each one comes with a function that spawns it.
 */
import type { ChildProcess } from "node:child_process";
import { describeExit } from "./processes.ts";
import {
  defaultRestartPolicy,
  formatDuration,
  formatRestartLine,
  initialRestartState,
  nextRestart,
  type RestartPolicy,
  type RestartState,
} from "./restart-policy.ts";

export type Supervised = {
  readonly name: string;
  /**
   * Spawns one run of the process, called again for every restart. The child should be `detached`
   * (its own process group), so that a terminal's Ctrl-C reaches only the supervisor, which then
   * signals each child exactly once.
   */
  readonly spawn: () => ChildProcess;
};

export type SupervisorOptions = {
  readonly log: (message: string) => void;
  readonly policy?: RestartPolicy;
  /** How long stop() waits after SIGTERM before it kills what is left. */
  readonly shutdownTimeoutMs: number;
};

type Slot = {
  readonly supervised: Supervised;
  child: ChildProcess | undefined;
  closed: Promise<void>;
  startedAt: number;
  state: RestartState;
  restartTimer: NodeJS.Timeout | undefined;
};

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    // The whole group, so nothing the child started outlives it (and holds its port or its output
    // pipe, which would keep "close" from ever coming).
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}

export class Supervisor {
  readonly #log: (message: string) => void;
  readonly #policy: RestartPolicy;
  readonly #shutdownTimeoutMs: number;
  readonly #slots: Slot[] = [];
  #stopping = false;

  constructor(options: SupervisorOptions) {
    this.#log = options.log;
    this.#policy = options.policy ?? defaultRestartPolicy;
    this.#shutdownTimeoutMs = options.shutdownTimeoutMs;
  }

  /** Starts a process now and keeps it running until stop(). */
  add(supervised: Supervised): void {
    if (this.#stopping) return;
    const slot: Slot = {
      supervised,
      child: undefined,
      closed: Promise.resolve(),
      startedAt: 0,
      state: initialRestartState,
      restartTimer: undefined,
    };
    this.#slots.push(slot);
    this.#launch(slot);
  }

  /** Children currently running. */
  running(): number {
    return this.#alive().length;
  }

  /** SIGTERM to every child, then waits; true when all ended before the timeout (the rest get SIGKILL). */
  async stop(): Promise<boolean> {
    this.#stopping = true;
    for (const slot of this.#slots) clearTimeout(slot.restartTimer);
    const alive = this.#alive();
    for (const slot of alive) if (slot.child) signalGroup(slot.child, "SIGTERM");

    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), this.#shutdownTimeoutMs);
    });
    const outcome = await Promise.race([Promise.all(alive.map((slot) => slot.closed)), timedOut]);
    clearTimeout(timer);
    if (outcome !== "timeout") return true;

    const stuck = this.#alive();
    const names = stuck.map((slot) => slot.supervised.name).join(", ");
    this.#log(`still running after ${formatDuration(this.#shutdownTimeoutMs)}, killing: ${names}`);
    this.kill();
    await Promise.all(stuck.map((slot) => slot.closed));
    return false;
  }

  /** SIGKILL to every child at once: a second Ctrl-C, or this process exiting some other way. */
  kill(): void {
    this.#stopping = true;
    for (const slot of this.#slots) {
      clearTimeout(slot.restartTimer);
      if (slot.child) signalGroup(slot.child, "SIGKILL");
    }
  }

  #alive(): Slot[] {
    return this.#slots.filter((slot) => slot.child !== undefined);
  }

  #launch(slot: Slot): void {
    const child = slot.supervised.spawn();
    slot.child = child;
    slot.startedAt = performance.now();
    slot.closed = new Promise((resolve) => {
      let ended = false;
      const end = (how: string): void => {
        if (ended) return;
        ended = true;
        slot.child = undefined;
        resolve();
        this.#ended(slot, how);
      };
      child.on("error", (error) => {
        // Also emitted when signalling a live child fails; only a child without a pid never started.
        if (child.pid === undefined) end(`failed to start: ${error.message}`);
        else this.#log(`${slot.supervised.name}: ${error.message}`);
      });
      // "close", not "exit": the child's last output (a crash's stack trace) comes before the line
      // saying it ended.
      child.once("close", (code, signal) => end(describeExit(code, signal)));
    });
  }

  #ended(slot: Slot, how: string): void {
    const name = slot.supervised.name;
    if (this.#stopping) {
      this.#log(`${name} stopped (${how})`);
      return;
    }
    const uptimeMs = performance.now() - slot.startedAt;
    const restart = nextRestart(this.#policy, slot.state, uptimeMs);
    slot.state = restart.state;
    this.#log(formatRestartLine({ name, how, uptimeMs, restart }));
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (!this.#stopping) this.#launch(slot);
    }, restart.delayMs);
  }
}

/**
 * The only way everything stops: SIGINT, SIGTERM or SIGHUP to this process stops every child
 * gracefully, then exits (0, or 1 if some had to be killed); a second Ctrl-C kills them at once.
 * Install it before the first add(): without a listener, a signal would end this process at once
 * and leave the children, in their own process groups, running.
 */
export function stopOnSignals(supervisor: Supervisor, log: (message: string) => void): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (!stopping) {
      stopping = true;
      log(`${signal} received, stopping ${supervisor.running()} process(es)…`);
      void supervisor.stop().then((clean) => process.exit(clean ? (process.exitCode ?? 0) : 1));
    } else if (signal === "SIGINT") {
      log("second Ctrl-C, killing everything");
      process.exitCode = 1;
      supervisor.kill();
    }
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("SIGHUP", onSignal);
  // Last resort if this process exits some other way with children still up.
  process.on("exit", () => supervisor.kill());
}
