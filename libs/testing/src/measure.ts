/**
 * Figures the benchmarks print: percentiles of latencies, and the CPU and memory of processes
 * (Linux /proc), so each bench reads them the same way.
 */
import { readdirSync, readFileSync } from "node:fs";

/** The `p`th percentile (0–100) of an ascending list: the nearest-rank value; NaN for none. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/** The median of a list in any order (of an even number: the mean of the middle two); NaN for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** CPU seconds (user + system) the processes `pids` have used so far; one that exited counts 0. */
export function processCpuSeconds(pids: readonly number[]): number {
  let seconds = 0;
  for (const pid of pids) seconds += cpuSecondsOf(pid) ?? 0;
  return seconds;
}

/** CPU seconds (user + system) process `pid` has used so far; undefined once it exited. */
function cpuSecondsOf(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / 100;
  } catch {
    return undefined; // exited
  }
}

/**
 * CPU seconds a changing set of processes has used since it was made, such as the Postgres
 * backends of one database: pools open and close connections during a run, and a plain
 * before-and-after sum loses what a process that exited had used, down to a negative total.
 * `sample()` keeps each process's latest figure (call it often); a process that exits counts what
 * it had used at its last sample, and one first seen after the start counts from zero.
 */
export class CpuTracker {
  readonly #listPids: () => readonly number[];
  readonly #atStart = new Map<number, number>();
  readonly #latest = new Map<number, number>();

  constructor(listPids: () => readonly number[]) {
    this.#listPids = listPids;
    for (const pid of listPids()) {
      const seconds = cpuSecondsOf(pid);
      if (seconds !== undefined) this.#atStart.set(pid, seconds);
    }
  }

  sample(): void {
    for (const pid of this.#listPids()) {
      const seconds = cpuSecondsOf(pid);
      if (seconds !== undefined) this.#latest.set(pid, seconds);
    }
  }

  /** Samples once more and returns the seconds used since the start. */
  seconds(): number {
    this.sample();
    let total = 0;
    for (const [pid, seconds] of this.#latest) total += seconds - (this.#atStart.get(pid) ?? 0);
    return total;
  }
}

/** A process's resident memory in bytes, now (`VmRSS`) or at its peak (`VmHWM`); 0 once it exited. */
export function processMemoryBytes(pid: number, field: "VmRSS" | "VmHWM"): number {
  try {
    const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * CPU seconds of the whole machine so far (all processes, from /proc/stat): busy, and stolen (a
 * virtual machine's cores running someone else's work: time this machine had less than its cores).
 */
export function machineSeconds(): { busy: number; steal: number } {
  const fields = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "")
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  const steal = fields[7] ?? 0;
  const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: (total - idle - steal) / 100, steal: steal / 100 };
}

/** Processes whose `/proc/<pid>/<file>` text passes `test` (one that exits meanwhile is skipped). */
function processesWhere(file: "cmdline" | "comm", test: (text: string) => boolean): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (test(readFileSync(`/proc/${entry}/${file}`, "utf8"))) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** Postgres backends serving database `name`. */
export function postgresBackends(name: string): number[] {
  return processesWhere("cmdline", (text) => text.includes(` ${name} `));
}

/** Processes whose executable is named `name` (`/proc/<pid>/comm`), e.g. the NATS server a bench loads. */
export function processesNamed(name: string): number[] {
  return processesWhere("comm", (text) => text.trim() === name);
}
