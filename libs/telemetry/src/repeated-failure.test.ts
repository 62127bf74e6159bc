import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { repeatedFailureLog } from "./repeated-failure.ts";

type Line = {
  level: number;
  msg: string;
  failures?: number;
  consecutiveFailures?: number;
  err?: { message: string };
};

function setup(options: { intervalMs?: number; level?: "warn" | "error"; next?: string } = {}) {
  const lines: Line[] = [];
  const logger = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line) as Line) });
  let t = 1_000_000;
  const log = repeatedFailureLog(logger, "claiming due sync states", { ...options, now: () => t });
  return {
    log,
    lines,
    advance(ms: number) {
      t += ms;
    },
  };
}

describe("repeatedFailureLog", () => {
  it("logs the first failure at once, then one line per interval with the count and the latest error", () => {
    const { log, lines, advance } = setup();
    log.failed(new Error("e0"), { platform: "gmail" });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 50,
      msg: "claiming due sync states failed; retrying",
      platform: "gmail",
      failures: 1,
      err: { message: "e0" },
    });
    // 20 s of failures every 50 ms: 400 attempts, two more lines.
    for (let i = 1; i <= 400; i++) {
      advance(50);
      log.failed(new Error(`e${i}`));
    }
    expect(lines.map((l) => l.msg)).toEqual([
      "claiming due sync states failed; retrying",
      "claiming due sync states failed (200 times in the last 10 s); retrying",
      "claiming due sync states failed (200 times in the last 10 s); retrying",
    ]);
    expect(lines[2]).toMatchObject({ failures: 200, consecutiveFailures: 401, err: { message: "e400" } });
    expect(log.consecutive).toBe(401);
  });

  it("says once that the operation works again, with the streak's length, and starts over", () => {
    const { log, lines, advance } = setup({ level: "warn", next: "they lapse unless renewed" });
    log.failed(new Error("down"));
    advance(1_000);
    log.failed(new Error("down"));
    advance(1_000);
    log.succeeded();
    log.succeeded();
    expect(log.consecutive).toBe(0);
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [40, "claiming due sync states failed; they lapse unless renewed"],
      [30, "claiming due sync states works again after 2 failures in 2 s"],
    ]);
    advance(60_000);
    log.failed(new Error("down again"));
    expect(lines.at(-1)?.msg).toBe("claiming due sync states failed; they lapse unless renewed");
  });

  it("stays quiet while a loop flaps within the interval, and counts the unlogged failures in the next line", () => {
    const { log, lines, advance } = setup();
    log.failed(new Error("x"));
    log.succeeded();
    for (let i = 0; i < 10; i++) {
      advance(500);
      log.failed(new Error("x"));
      log.succeeded();
    }
    // Two lines for the first streak; the nine quiet ones within its interval log nothing.
    expect(lines).toHaveLength(2);
    advance(5_000);
    log.failed(new Error("x"));
    expect(lines).toHaveLength(3);
    expect(lines[2]?.msg).toBe("claiming due sync states failed (11 times in the last 10 s); retrying");
  });
});
