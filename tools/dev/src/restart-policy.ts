/**
 * When run-all restarts a process that ended: pure functions, so the backoff can be tested without
 * spawning anything. The delay itself is the project's one backoff, without its jitter.
 */
import { backoffDelayMs } from "@syncwell/runtime/backoff";

export type RestartPolicy = {
  /** Delay before restarting a process that ended soon after it started. */
  readonly initialDelayMs: number;
  /** Upper bound for any delay; each further quick exit in a row doubles it until then. */
  readonly maxDelayMs: number;
  /** A process that stayed up this long was healthy: its next exit starts over at initialDelayMs. */
  readonly resetAfterMs: number;
};

export const defaultRestartPolicy: RestartPolicy = {
  initialDelayMs: 1_000,
  maxDelayMs: 30_000,
  resetAfterMs: 60_000,
};

export type RestartState = {
  /** Restarts so far, for the log line. */
  readonly restarts: number;
  /** Exits in a row that came before resetAfterMs of uptime: what the delay grows with. */
  readonly quickExits: number;
};

export const initialRestartState: RestartState = { restarts: 0, quickExits: 0 };

export type Restart = { readonly state: RestartState; readonly delayMs: number };

/** The state after a process ended having been up for `uptimeMs`, and how long to wait before restarting it. */
export function nextRestart(policy: RestartPolicy, state: RestartState, uptimeMs: number): Restart {
  const quickExits = uptimeMs >= policy.resetAfterMs ? 1 : state.quickExits + 1;
  const delayMs = backoffDelayMs(
    {
      initialDelayMs: policy.initialDelayMs,
      maxDelayMs: policy.maxDelayMs,
      factor: 2,
    },
    quickExits,
    // No jitter: one process restarting on its own needs no spreading, and a fixed sequence keeps
    // the "restarting in N s" line predictable.
    () => 1,
  );
  return { state: { restarts: state.restarts + 1, quickExits }, delayMs };
}

/** `250 ms`, `2 s`, `2.5 s`, `4 min`: short enough for one log line, precise where it matters. */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${Math.round(ms / 100) / 10} s`;
  return `${Math.round(ms / 60_000)} min`;
}

export type RestartLine = {
  readonly name: string;
  /** How it ended, from describeExit: `code 1`, `signal SIGKILL`. */
  readonly how: string;
  readonly uptimeMs: number;
  readonly restart: Restart;
};

/** `token-service exited (code 1) after 0.4 s; restarting in 2 s, restart #3` */
export function formatRestartLine(line: RestartLine): string {
  const { name, how, uptimeMs, restart } = line;
  return (
    `${name} exited (${how}) after ${formatDuration(uptimeMs)}; ` +
    `restarting in ${formatDuration(restart.delayMs)}, restart #${restart.state.restarts}`
  );
}
