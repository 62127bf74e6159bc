import { type ChildProcess, spawn } from "node:child_process";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { nodeBinary } from "@syncwell/testing";
import { afterEach, describe, expect, it } from "vitest";
import { Supervisor } from "./supervisor.ts";

// The project's Node 22, as start.sh uses: the fixture is TypeScript run without a build step.
const NODE = nodeBinary;
const FIXTURE = resolve(import.meta.dirname, "fixtures/supervise.ts");

const STAY_UP = "console.log('ready'); setInterval(() => {}, 60_000);";
const FAST = { initialDelayMs: 20, maxDelayMs: 80, resetAfterMs: 60_000 };

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A named child whose every run is kept, so a test can see restarts as new pids. */
function recorded(name: string, script: string | (() => string)) {
  const runs: ChildProcess[] = [];
  const ready: number[] = [];
  return {
    runs,
    ready,
    pid: (run: number) => runs[run]?.pid,
    supervised: {
      name,
      spawn: () => {
        const code = typeof script === "string" ? script : script();
        const child = spawn(NODE, ["-e", code], { stdio: ["ignore", "pipe", "inherit"], detached: true });
        createInterface({ input: child.stdout }).on("line", (line) => {
          if (line === "ready" && child.pid !== undefined) ready.push(child.pid);
        });
        runs.push(child);
        return child;
      },
    },
  };
}

describe("Supervisor (real child processes)", () => {
  let supervisor: Supervisor | undefined;
  afterEach(() => supervisor?.kill());

  it("restarts a child killed with SIGKILL while the other keeps running, and stop() ends both", async () => {
    const logs: string[] = [];
    supervisor = new Supervisor({ log: (m) => logs.push(m), policy: FAST, shutdownTimeoutMs: 5_000 });
    const alpha = recorded("alpha", STAY_UP);
    const beta = recorded("beta", STAY_UP);
    supervisor.add(alpha.supervised);
    supervisor.add(beta.supervised);
    const firstAlpha = await waitFor("alpha to start", () => alpha.ready[0]);
    const betaPid = await waitFor("beta to start", () => beta.ready[0]);

    process.kill(firstAlpha, "SIGKILL");
    const secondAlpha = await waitFor("alpha to restart", () => alpha.ready[1]);

    expect(secondAlpha).not.toBe(firstAlpha);
    expect(isAlive(firstAlpha)).toBe(false);
    expect(isAlive(secondAlpha)).toBe(true);
    expect(beta.runs.map((run) => run.pid)).toEqual([betaPid]);
    expect(isAlive(betaPid)).toBe(true);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(
      /^alpha exited \(signal SIGKILL\) after \d+(\.\d)? m?s; restarting in 20 ms, restart #1$/,
    );

    expect(await supervisor.stop()).toBe(true);
    expect([secondAlpha, betaPid].filter(isAlive)).toEqual([]);
    expect(logs.slice(1).sort()).toEqual(["alpha stopped (signal SIGTERM)", "beta stopped (signal SIGTERM)"]);
    expect(supervisor.running()).toBe(0);
  });

  it("restarts after any exit, zero or not, doubling the delay up to the maximum", async () => {
    const logs: string[] = [];
    supervisor = new Supervisor({ log: (m) => logs.push(m), policy: FAST, shutdownTimeoutMs: 5_000 });
    let runs = 0;
    const flaky = recorded("flaky", () => `process.exit(${runs++ % 2 === 0 ? 3 : 0})`);
    supervisor.add(flaky.supervised);
    await waitFor("five restarts", () => logs.length >= 5);
    await supervisor.stop();

    const lines = logs.slice(0, 5).map((line) => line.replace(/ after [^;]+;/, ";"));
    expect(lines).toEqual([
      "flaky exited (code 3); restarting in 20 ms, restart #1",
      "flaky exited (code 0); restarting in 40 ms, restart #2",
      "flaky exited (code 3); restarting in 80 ms, restart #3",
      "flaky exited (code 0); restarting in 80 ms, restart #4",
      "flaky exited (code 3); restarting in 80 ms, restart #5",
    ]);
  });

  it("kills a child that ignores SIGTERM once the shutdown timeout has passed", async () => {
    const logs: string[] = [];
    supervisor = new Supervisor({ log: (m) => logs.push(m), policy: FAST, shutdownTimeoutMs: 300 });
    const stubborn = recorded("stubborn", `process.on("SIGTERM", () => {}); ${STAY_UP}`);
    supervisor.add(stubborn.supervised);
    const pid = await waitFor("stubborn to start", () => stubborn.ready[0]);

    expect(await supervisor.stop()).toBe(false);
    expect(isAlive(pid)).toBe(false);
    expect(logs).toEqual([
      "still running after 300 ms, killing: stubborn",
      "stubborn stopped (signal SIGKILL)",
    ]);
  });
});

type FixtureRun = {
  readonly proc: ChildProcess;
  readonly lines: string[];
  readonly exited: Promise<number | null>;
};

function runFixture(): FixtureRun {
  const proc = spawn(NODE, [FIXTURE], { stdio: ["ignore", "pipe", "inherit"] });
  const lines: string[] = [];
  createInterface({ input: proc.stdout }).on("line", (line) => lines.push(line));
  const exited = new Promise<number | null>((done) => proc.once("close", (code) => done(code)));
  return { proc, lines, exited };
}

/** The pids a fixture's child printed, in order: one per run. */
function pidsOf(run: FixtureRun, name: string): number[] {
  return run.lines
    .filter((line) => /^\S+ \d+$/.test(line) && line.startsWith(`${name} `))
    .map((line) => Number(line.split(" ")[1]));
}

describe("a supervisor process (fixtures/supervise.ts, run-all's signal handling)", () => {
  let run: FixtureRun | undefined;
  afterEach(() => {
    if (run?.proc.exitCode === null) run.proc.kill("SIGKILL");
  });

  it.each(["SIGTERM", "SIGINT"] as const)(
    "restarts a child killed with SIGKILL, and %s to the supervisor stops every child",
    async (signal) => {
      const fixture = runFixture();
      run = fixture;
      const firstAlpha = await waitFor("alpha to start", () => pidsOf(fixture, "alpha")[0]);
      const beta = await waitFor("beta to start", () => pidsOf(fixture, "beta")[0]);

      process.kill(firstAlpha, "SIGKILL");
      const secondAlpha = await waitFor("alpha to restart", () => pidsOf(fixture, "alpha")[1]);
      expect(secondAlpha).not.toBe(firstAlpha);
      expect(pidsOf(fixture, "beta")).toEqual([beta]);
      expect(isAlive(beta)).toBe(true);
      expect(fixture.lines).toContainEqual(
        expect.stringMatching(
          /^supervisor alpha exited \(signal SIGKILL\) after .+; restarting in 50 ms, restart #1$/,
        ),
      );

      fixture.proc.kill(signal);
      expect(await fixture.exited).toBe(0);
      expect([secondAlpha, beta].filter(isAlive)).toEqual([]);
      expect(fixture.lines).toEqual(
        expect.arrayContaining([
          `supervisor ${signal} received, stopping 2 process(es)…`,
          "supervisor alpha stopped (signal SIGTERM)",
          "supervisor beta stopped (signal SIGTERM)",
        ]),
      );
    },
    20_000,
  );
});
