import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type BenchRun, gitCommit, startBenchRecord } from "./bench-results.ts";

const repoRoot = join(import.meta.dirname, "../../..");
const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "bench-results-"));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function lines(file: string): BenchRun[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as BenchRun);
}

describe("bench results", () => {
  it("appends one line per run with the date, commit, arguments, machine, reference and figures", () => {
    const dir = tempDir();
    const logged: string[] = [];
    const options = { dir, env: {}, log: (line: string) => logged.push(line) };
    const first = startBenchRecord("poll", { connections: "200", runs: "1", record: true }, options);
    const file = first.finish({
      reference: { nodeMs: 41.23456, postgresMs: 80 },
      figures: { connectionsPerS: 512.34567, lost: 0, perSecond: [3, 4] },
    });
    startBenchRecord("poll", { connections: "300" }, options).finish({ figures: { connectionsPerS: 600 } });

    expect(file).toBe(join(dir, "poll.jsonl"));
    const [one, two, ...more] = lines(join(dir, "poll.jsonl"));
    expect(more).toEqual([]);
    expect(one?.bench).toBe("poll");
    expect(Number.isNaN(Date.parse(one?.date ?? ""))).toBe(false);
    expect(one?.commit?.sha).toMatch(/^[0-9a-f]{7,}$/);
    expect(typeof one?.commit?.dirty).toBe("boolean");
    expect(one?.args).toEqual({ connections: "200", runs: "1" });
    expect(one?.machine.cpus).toBeGreaterThan(0);
    expect(one?.machine.cpuModel).not.toBe("");
    expect(one?.machine.memoryBytes).toBeGreaterThan(0);
    expect(one?.machine.node).toBe(process.version);
    expect(one?.machine.loadAverage).toHaveLength(3);
    expect(one?.reference).toEqual({ nodeMs: 41.235, postgresMs: 80 });
    expect(one?.figures).toEqual({ connectionsPerS: 512.346, lost: 0, perSecond: [3, 4] });
    expect(two?.args).toEqual({ connections: "300" });
    expect(two?.reference).toBeUndefined();
    expect(logged).toEqual([`results appended to ${file}`, `results appended to ${file}`]);
  });

  it("writes nothing with --no-record or BENCH_RECORD=0", () => {
    const dir = tempDir();
    const log = () => {
      throw new Error("nothing is written, so nothing is printed");
    };
    const figures = { figures: { refreshesPerSec: 1500 } };
    expect(
      startBenchRecord("refresh", { record: false }, { dir, env: {}, log }).finish(figures),
    ).toBeUndefined();
    expect(
      startBenchRecord("refresh", {}, { dir, env: { BENCH_RECORD: "0" }, log }).finish(figures),
    ).toBeUndefined();
    expect(existsSync(join(dir, "refresh.jsonl"))).toBe(false);
  });

  it("writes to BENCH_RESULTS_DIR, creating it", () => {
    const dir = join(tempDir(), "nested", "results");
    const file = startBenchRecord("bus", {}, { env: { BENCH_RESULTS_DIR: dir }, log: () => {} }).finish({
      figures: { busRawConsumeRatio: 0.5 },
    });
    expect(file).toBe(join(dir, "bus.jsonl"));
    expect(lines(join(dir, "bus.jsonl")).map((run) => run.figures)).toEqual([{ busRawConsumeRatio: 0.5 }]);
  });

  it("records no commit outside a git checkout, and still writes", () => {
    const outside = tempDir();
    expect(gitCommit(outside)).toBeNull();
    const file = startBenchRecord(
      "write-pages",
      {},
      { cwd: outside, dir: outside, env: {}, log: () => {} },
    ).finish({ figures: { pagesPerS: 100 } });
    expect(lines(file as string)[0]?.commit).toBeNull();
  });

  it("reads this checkout's commit as `git rev-parse` does", () => {
    const sha = execFileSync("git", ["rev-parse", "--short", "HEAD"], {
      cwd: repoRoot,
      encoding: "utf8",
    }).trim();
    expect(gitCommit(repoRoot)?.sha).toBe(sha);
  });

  it("refuses a bench name that is not a plain file name", () => {
    expect(() => startBenchRecord("../poll", {})).toThrow(/bench name/);
  });
});
