import { describe, expect, it } from "vitest";
import {
  defaultRestartPolicy,
  formatDuration,
  formatRestartLine,
  initialRestartState,
  nextRestart,
  type RestartState,
} from "./restart-policy.ts";

/** The delays of `uptimes.length` exits in a row, each after the given uptime. */
function delays(uptimes: readonly number[]): number[] {
  let state: RestartState = initialRestartState;
  return uptimes.map((uptime) => {
    const restart = nextRestart(defaultRestartPolicy, state, uptime);
    state = restart.state;
    return restart.delayMs;
  });
}

describe("nextRestart", () => {
  it("waits 1 s after a quick exit, doubling with each one in a row up to 30 s", () => {
    expect(delays(Array(8).fill(100))).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
  });

  it("starts over at 1 s once a run stayed up for a minute", () => {
    expect(delays([100, 100, 100, 60_000, 100, 59_999])).toEqual([1_000, 2_000, 4_000, 1_000, 2_000, 4_000]);
  });

  it("counts every restart, reset or not", () => {
    const first = nextRestart(defaultRestartPolicy, initialRestartState, 100);
    const second = nextRestart(defaultRestartPolicy, first.state, 120_000);
    expect(first.state).toEqual({ restarts: 1, quickExits: 1 });
    expect(second.state).toEqual({ restarts: 2, quickExits: 1 });
  });

  it("takes its numbers from the policy", () => {
    const policy = { initialDelayMs: 20, maxDelayMs: 50, resetAfterMs: 500 };
    const first = nextRestart(policy, initialRestartState, 10);
    const second = nextRestart(policy, first.state, 10);
    const third = nextRestart(policy, second.state, 10);
    expect([first.delayMs, second.delayMs, third.delayMs]).toEqual([20, 40, 50]);
    expect(nextRestart(policy, third.state, 500).delayMs).toBe(20);
  });
});

describe("the restart line", () => {
  it("formats durations for a log line", () => {
    expect(formatDuration(20)).toBe("20 ms");
    expect(formatDuration(1_000)).toBe("1 s");
    expect(formatDuration(2_449)).toBe("2.4 s");
    expect(formatDuration(30_000)).toBe("30 s");
    expect(formatDuration(300_000)).toBe("5 min");
  });

  it("says what ended, how, after how long, and when it comes back", () => {
    const restart = { state: { restarts: 3, quickExits: 2 }, delayMs: 2_000 };
    expect(formatRestartLine({ name: "token-service", how: "code 1", uptimeMs: 400, restart })).toBe(
      "token-service exited (code 1) after 400 ms; restarting in 2 s, restart #3",
    );
    expect(formatRestartLine({ name: "poller", how: "signal SIGKILL", uptimeMs: 90_000, restart })).toBe(
      "poller exited (signal SIGKILL) after 90 s; restarting in 2 s, restart #3",
    );
  });
});
