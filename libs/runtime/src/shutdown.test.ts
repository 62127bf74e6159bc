import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { Writable } from "node:stream";
import { nodeBinary } from "@syncwell/testing";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createShutdown } from "./shutdown.ts";

function captureLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString("utf8").split("\n").filter(Boolean)) {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      callback();
    },
  });
  return { logger: pino(stream), lines };
}

describe("createShutdown (in process)", () => {
  it("runs steps in reverse order of registration, once, logging each duration", async () => {
    const { logger, lines } = captureLogger();
    const shutdown = createShutdown({ logger, timeoutMs: 1000, exit: () => {} });
    const order: string[] = [];
    shutdown.add("database", () => {
      order.push("database");
    });
    shutdown.add("consumers", async () => {
      await new Promise((r) => setTimeout(r, 20));
      order.push("consumers");
    });
    shutdown.add("http", () => {
      order.push("http");
    });

    await Promise.all([shutdown.run("test"), shutdown.run("again")]);
    await shutdown.run("later");
    expect(order).toEqual(["http", "consumers", "database"]);

    const stopped = lines.filter((l) => typeof l.step === "string" && l.level === 30);
    expect(stopped.map((l) => l.msg)).toEqual(["stopped http", "stopped consumers", "stopped database"]);
    expect(stopped[1]?.durationMs).toBeGreaterThanOrEqual(15);
    expect(lines[0]).toMatchObject({
      msg: "shutting down",
      reason: "test",
      steps: ["http", "consumers", "database"],
    });
  });

  it("logs a failing step and still stops the others", async () => {
    const { logger, lines } = captureLogger();
    const shutdown = createShutdown({ logger, timeoutMs: 1000, exit: () => {} });
    const order: string[] = [];
    shutdown.add("database", () => {
      order.push("database");
    });
    shutdown.add("nats", () => {
      throw new Error("drain failed");
    });
    await shutdown.run("test");
    expect(order).toEqual(["database"]);
    expect(lines.find((l) => l.msg === "failed to stop nats")).toMatchObject({
      level: 50,
      step: "nats",
      err: { message: "drain failed" },
    });
    expect(lines.at(-1)).toMatchObject({ msg: "shutdown complete", ok: false });
  });
});

const child = resolve(import.meta.dirname, "fixtures/shutdown-child.ts");

type Outcome = { code: number | null; lines: Array<Record<string, unknown>>; ms: number };

function runChild(mode: string, signals: NodeJS.Signals[] = []): Promise<Outcome> {
  return new Promise((done, fail) => {
    const started = Date.now();
    const proc = spawn(nodeBinary, [child, mode], {
      env: { PATH: process.env.PATH ?? "" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    proc.stdout.on("data", (chunk: Buffer) => {
      const before = out;
      out += chunk.toString();
      if (!before.includes("ready\n") && out.includes("ready\n")) {
        signals.forEach((signal, i) => {
          setTimeout(() => proc.kill(signal), 50 + i * 100);
        });
      }
    });
    proc.on("error", fail);
    proc.on("close", (code) => {
      const lines = out
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      done({ code, lines, ms: Date.now() - started });
    });
  });
}

const messages = (o: Outcome) => o.lines.map((l) => l.msg);

describe("createShutdown (child process)", () => {
  it("SIGTERM stops every step in reverse order and exits 0", async () => {
    const outcome = await runChild("signal", ["SIGTERM"]);
    expect(outcome.code).toBe(0);
    expect(messages(outcome)).toEqual([
      "received SIGTERM",
      "shutting down",
      "stopped http",
      "stopped consumers",
      "stopped database",
      "shutdown complete",
    ]);
  }, 15_000);

  it("exits 1 after the timeout, naming the step still running", async () => {
    const outcome = await runChild("timeout", ["SIGINT"]);
    expect(outcome.code).toBe(1);
    const timeout = outcome.lines.find((l) => String(l.msg).startsWith("shutdown did not finish"));
    expect(timeout).toMatchObject({
      msg: "shutdown did not finish within 300ms; still running: consumers",
      running: "consumers",
      notStarted: ["database"],
      reason: "SIGINT",
    });
    expect(messages(outcome)).not.toContain("stopped database");
  }, 15_000);

  it("a second signal forces the exit", async () => {
    const outcome = await runChild("second-signal", ["SIGTERM", "SIGTERM"]);
    expect(outcome.code).toBe(1);
    expect(outcome.ms).toBeLessThan(5000);
    expect(messages(outcome)).toContain("second SIGTERM during shutdown; exiting now");
  }, 15_000);

  it("an uncaught exception is logged with its context, then shutdown runs and the exit code is 1", async () => {
    const outcome = await runChild("uncaught");
    expect(outcome.code).toBe(1);
    expect(outcome.lines[0]).toMatchObject({
      level: 60,
      origin: "uncaughtException",
      err: { message: "boom from a timer" },
    });
    expect(messages(outcome)).toContain("stopped database");
  }, 15_000);

  it("an unhandled rejection is logged, then shutdown runs and the exit code is 1", async () => {
    const outcome = await runChild("rejection");
    expect(outcome.code).toBe(1);
    expect(outcome.lines[0]).toMatchObject({
      level: 60,
      origin: "unhandledRejection",
      err: { message: "rejected and forgotten" },
    });
    expect(messages(outcome)).toContain("shutdown complete");
  }, 15_000);
});
