/**
 * Benchmark results kept as data: each run of a bench appends one JSON line to
 * `bench-results/<bench>.jsonl` at the repository root (what ran, where, and what it measured), so
 * a figure's history lives in files the benchmarks write, not in README prose. The fields are
 * described in bench-results/README.md.
 */
import { execFileSync } from "node:child_process";
import { appendFileSync, mkdirSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The option every bench declares (with `allowNegative: true`): `--no-record` writes no results. */
export const benchRecordOption = { record: { type: "boolean", default: true } } as const;

export type BenchMachine = {
  cpus: number;
  cpuModel: string;
  memoryBytes: number;
  node: string;
  /** 1, 5 and 15 minute load averages when the bench started: other work sharing the machine. */
  loadAverage: number[];
};

/** The commit the bench ran from; `dirty` when tracked files differ from it. Null without git. */
export type BenchCommit = { sha: string; dirty: boolean } | null;

export type BenchRun = {
  bench: string;
  date: string;
  commit: BenchCommit;
  args: Record<string, unknown>;
  machine: BenchMachine;
  /** Fixed CPU work timed on this machine, where the bench measures it (lower is faster). */
  reference?: Record<string, number>;
  figures: Record<string, unknown>;
  note?: string;
};

export type BenchRecordOptions = {
  /** Where the .jsonl files go; otherwise BENCH_RESULTS_DIR, otherwise `<repo>/bench-results`. */
  dir?: string;
  /** Where git is asked for the commit; the repository root by default. */
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
};

export type BenchRecord = {
  /** Appends the run's line and prints where; returns the file, or undefined when not recording. */
  finish(results: {
    figures: Record<string, unknown>;
    reference?: Record<string, number>;
  }): string | undefined;
};

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

/**
 * Starts the record of one bench run: the date, commit and machine (its load) are taken now, before
 * the bench loads the machine itself. `args` are the bench's parsed arguments; `args.record === false`
 * (`--no-record`) or BENCH_RECORD=0 turns writing off.
 */
export function startBenchRecord(
  bench: string,
  args: Record<string, unknown>,
  options: BenchRecordOptions = {},
): BenchRecord {
  if (!/^[a-z0-9-]+$/.test(bench)) throw new Error(`bench name "${bench}": lower-case letters, digits, -`);
  const env = options.env ?? process.env;
  const enabled = args.record !== false && env.BENCH_RECORD !== "0";
  const { record: _record, ...benchArgs } = args;
  const started = {
    bench,
    date: new Date().toISOString(),
    commit: gitCommit(options.cwd ?? repoRoot),
    args: benchArgs,
    machine: benchMachine(),
  };
  return {
    finish({ figures, reference }) {
      if (!enabled) return undefined;
      const run: BenchRun = { ...started, ...(reference ? { reference } : {}), figures };
      const dir = options.dir ?? env.BENCH_RESULTS_DIR ?? join(repoRoot, "bench-results");
      mkdirSync(dir, { recursive: true });
      const file = join(dir, `${bench}.jsonl`);
      appendFileSync(file, `${JSON.stringify(run, roundFractions)}\n`);
      (options.log ?? ((line) => process.stdout.write(`${line}\n`)))(`results appended to ${file}`);
      return file;
    },
  };
}

export function benchMachine(): BenchMachine {
  const cores = cpus();
  return {
    cpus: cores.length,
    cpuModel: cores[0]?.model.trim() ?? "unknown",
    memoryBytes: totalmem(),
    node: process.version,
    loadAverage: loadavg().map((n) => Math.round(n * 100) / 100),
  };
}

/**
 * The short sha of HEAD and whether tracked files differ from it (as `git describe --dirty`
 * counts them), ignoring the results files themselves: the bench's own previous line would make
 * every later run look dirty. Null outside a checkout or without git.
 */
export function gitCommit(cwd: string): BenchCommit {
  const git = (...gitArgs: string[]) =>
    execFileSync("git", gitArgs, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  try {
    const sha = git("rev-parse", "--short", "HEAD");
    const changes = git(
      "status",
      "--porcelain",
      "--untracked-files=no",
      "--",
      ".",
      ":(exclude)bench-results",
    );
    return { sha, dirty: changes !== "" };
  } catch {
    return null;
  }
}

/** Milliseconds and rates to three decimals: float noise in the last digits says nothing. */
function roundFractions(_key: string, value: unknown): unknown {
  return typeof value === "number" && !Number.isInteger(value) && Number.isFinite(value)
    ? Math.round(value * 1000) / 1000
    : value;
}
