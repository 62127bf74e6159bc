import { spawn } from "node:child_process";
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { CpuTracker, median, percentile, processCpuSeconds, processMemoryBytes } from "./measure.ts";

describe("measure", () => {
  it("takes the nearest-rank percentile of an ascending list, NaN of none", () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(sorted, 50)).toBe(51);
    expect(percentile(sorted, 99)).toBe(100);
    expect(percentile(sorted, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it("takes the median of a list in any order, the mean of the middle two for an even count", () => {
    expect(median([424, 399, 421])).toBe(421);
    expect(median([463, 399, 440, 424])).toBe(432);
    expect(median([5])).toBe(5);
    expect(median([])).toBeNaN();
  });

  it("reads this process's CPU and memory, and 0 for a process that does not exist", () => {
    let x = 0;
    for (let i = 0; i < 5e6; i++) x += Math.sqrt(i);
    expect(x).toBeGreaterThan(0);
    expect(processCpuSeconds([process.pid])).toBeGreaterThan(0);
    const rss = processMemoryBytes(process.pid, "VmRSS");
    expect(rss).toBeGreaterThan(1024 * 1024);
    // Read after it: the peak is at least any resident size seen before.
    expect(processMemoryBytes(process.pid, "VmHWM")).toBeGreaterThanOrEqual(rss);
    expect(processCpuSeconds([2 ** 22 + 1])).toBe(0);
    expect(processMemoryBytes(2 ** 22 + 1, "VmRSS")).toBe(0);
  });

  it("tracks the CPU a process used since the start, after it exited, without what it used before", async () => {
    // Burns 0.4 s of CPU, says so, and on a line from its parent burns 0.3 s more and exits.
    const child = spawn(
      process.execPath,
      [
        "-e",
        `const cpuMs = () => { const { user, system } = process.cpuUsage(); return (user + system) / 1000; };
         const burn = (ms) => { const end = cpuMs() + ms; while (cpuMs() < end); };
         burn(400); process.stdout.write("ready\\n");
         process.stdin.once("data", () => { burn(300); process.exit(0); });`,
      ],
      { stdio: ["pipe", "pipe", "inherit"] },
    );
    await once(child.stdout, "data");
    const pid = child.pid as number;
    const tracker = new CpuTracker(() => [pid]);
    const before = processCpuSeconds([pid]);
    expect(before).toBeGreaterThanOrEqual(0.4);

    const sampler = setInterval(() => tracker.sample(), 10);
    child.stdin.write("go\n");
    await once(child, "exit");
    clearInterval(sampler);

    // A before-and-after sum of the exited process is negative; the tracker keeps its last sample.
    expect(processCpuSeconds([pid]) - before).toBeLessThan(0);
    const used = tracker.seconds();
    expect(used).toBeGreaterThanOrEqual(0.1);
    expect(used).toBeLessThan(before);
  });
});
