import { setTimeout as sleep } from "node:timers/promises";
import { type Bus, RetryLaterError } from "@syncwell/bus";
import { createEvent } from "@syncwell/contracts";
import { capturingLogger, createTestBus, createTestNats, waitFor } from "@syncwell/testing";
import pino, { type Logger } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ActiveClaims,
  SharedTickRuns,
  type SharedTickRunsOptions,
  tickRunConsumer,
  type WaitForPeerClaimsOptions,
} from "../src/index.ts";

const silentLogger = pino({ level: "silent" });
const nats = createTestNats("tickrun");
/** Two replicas of a service: each has its own connection. */
let busA: Bus;
let busB: Bus;

beforeAll(async () => {
  busA = await createTestBus(nats, "replica-a");
  busB = await createTestBus(nats, "replica-b");
  await busA.provision();
});

afterAll(async () => {
  await busA?.close();
  await busB?.close();
  await nats.cleanup();
});

let subjects = 0;
/** A replica's SharedTickRuns, named after its connection ("a" or "b") unless told otherwise. */
function replica(
  bus: Bus,
  options: {
    wakeSubject: string;
    replicaId?: string;
    stopping?: (() => boolean) | undefined;
    logger?: Logger;
    join?: SharedTickRunsOptions["join"];
  },
) {
  const stopping = options.stopping ?? (() => false);
  return new SharedTickRuns({
    nc: bus.nc,
    naming: bus.naming,
    logger: options.logger ?? silentLogger,
    wakeSubject: options.wakeSubject,
    engine: {
      replicaId: options.replicaId ?? (bus === busA ? "a" : "b"),
      get stopping() {
        return stopping();
      },
    },
    runName: "test run",
    join: options.join ?? (async () => ({})),
  });
}

describe("SharedTickRuns wake-ups", () => {
  it("wakes the other replicas, which join the run and log what they did", async () => {
    const wakeSubject = `test.wake.${++subjects}`;
    const joinedByA: string[] = [];
    const joinedByB: Array<{ jobRunId: string; startedAt: Date; from: string }> = [];
    const { logger, lines } = capturingLogger();
    const a = replica(busA, {
      wakeSubject,
      join: async (wake) => {
        joinedByA.push(wake.jobRunId);
        return {};
      },
    });
    const b = replica(busB, {
      wakeSubject,
      logger,
      join: async (wake) => {
        joinedByB.push(wake);
        return { checked: 2 };
      },
    });
    a.start();
    b.start();
    await busB.nc.flush();

    const jobRunId = crypto.randomUUID();
    const startedAt = new Date("2026-11-21T10:05:00.123Z");
    a.wake(jobRunId, startedAt);
    await waitFor(() => lines.some((l) => l.msg === "helped with a test run"), "the join", {
      timeoutMs: 5_000,
    });

    expect(joinedByB).toEqual([{ jobRunId, startedAt, from: "a" }]);
    expect(joinedByA).toEqual([]); // the owner ignores its own wake-up
    expect(lines.find((l) => l.msg === "helped with a test run")).toMatchObject({
      jobRunId,
      owner: "a",
      checked: 2,
    });
    await Promise.all([a.stop(), b.stop()]);
  });

  it("logs a failed share instead of throwing, and joins the next run", async () => {
    const wakeSubject = `test.wake.${++subjects}`;
    const { logger, lines } = capturingLogger();
    let calls = 0;
    const a = replica(busA, { wakeSubject });
    const b = replica(busB, {
      wakeSubject,
      logger,
      join: async () => {
        if (++calls === 1) throw new Error("database down");
        return {};
      },
    });
    a.start();
    b.start();
    await busB.nc.flush();

    const failed = crypto.randomUUID();
    a.wake(failed, new Date());
    await waitFor(() => lines.some((l) => l.level === 50), "the error log", { timeoutMs: 5_000 });
    expect(lines.find((l) => l.level === 50)).toMatchObject({
      jobRunId: failed,
      msg: "test run on this replica failed; its claims lapse to the others",
      err: { message: "database down" },
    });

    const next = crypto.randomUUID();
    a.wake(next, new Date());
    await waitFor(() => lines.some((l) => l.msg === "helped with a test run"), "the next join", {
      timeoutMs: 5_000,
    });
    expect(lines.find((l) => l.msg === "helped with a test run")?.jobRunId).toBe(next);
    await Promise.all([a.stop(), b.stop()]);
  });

  it("joins nothing while stopping, and stop() waits for the runs it joined", async () => {
    const wakeSubject = `test.wake.${++subjects}`;
    let bJoined = false;
    let cStarted = false;
    let cFinished = false;
    const a = replica(busA, { wakeSubject });
    const b = replica(busB, {
      wakeSubject,
      stopping: () => true,
      join: async () => {
        bJoined = true;
        return {};
      },
    });
    // A third replica on B's connection, still working.
    const c = replica(busB, {
      wakeSubject,
      replicaId: "c",
      join: async () => {
        cStarted = true;
        await sleep(200);
        cFinished = true;
        return {};
      },
    });
    a.start();
    b.start();
    c.start();
    await busB.nc.flush();

    a.wake(crypto.randomUUID(), new Date());
    await waitFor(() => cStarted, "c joining", { timeoutMs: 5_000 });
    // b got the same wake-up (same connection, delivered in order) and ignored it.
    await c.stop();
    expect(cFinished).toBe(true);
    expect(bJoined).toBe(false);
    await Promise.all([a.stop(), b.stop()]);
  });
});

describe("SharedTickRuns.waitForPeerClaims", () => {
  const claims = (count: number, firstExpiry: Date | null = null): ActiveClaims => ({ count, firstExpiry });

  /** Waits as a tick's owner, the claims answering each look in turn (the last answer from then on). */
  async function waitAsOwner(
    answers: ActiveClaims[],
    options: Partial<WaitForPeerClaimsOptions> & { stopping?: () => boolean } = {},
  ) {
    const { stopping, ...waitOptions } = options;
    const started = performance.now();
    let looks = 0;
    let runs = 0;
    let firstRunAfterMs: number | undefined;
    const complete = await replica(busA, { wakeSubject: "test.wake.unused", stopping }).waitForPeerClaims({
      activeClaims: async () => answers[Math.min(looks++, answers.length - 1)] as ActiveClaims,
      runAgain: async () => {
        runs++;
        firstRunAfterMs ??= performance.now() - started;
      },
      maxWaitMs: 10_000,
      ...waitOptions,
    });
    return { complete, looks, runs, firstRunAfterMs, tookMs: performance.now() - started };
  }

  it("is done at once when no replica holds a claim", async () => {
    expect(await waitAsOwner([claims(0)])).toMatchObject({ complete: true, looks: 1, runs: 0 });
  });

  it("runs again after each wait while claims are held, until none is left", async () => {
    const waited = await waitAsOwner([claims(3), claims(1), claims(0)]);
    expect(waited).toMatchObject({ complete: true, looks: 3, runs: 2 });
  });

  it("waits until just past the first lease's end, but no longer than pollIntervalMs", async () => {
    const lapsing = await waitAsOwner([claims(1, new Date(Date.now() + 300)), claims(0)], {
      pollIntervalMs: 5_000,
    });
    expect(lapsing.firstRunAfterMs).toBeGreaterThanOrEqual(300);
    expect(lapsing.firstRunAfterMs).toBeLessThan(1_000);

    const renewed = await waitAsOwner([claims(1, new Date(Date.now() + 60_000)), claims(0)], {
      pollIntervalMs: 100,
    });
    expect(renewed.firstRunAfterMs).toBeGreaterThanOrEqual(90);
    expect(renewed.firstRunAfterMs).toBeLessThan(1_000);
  });

  it("is done only when the final pass agrees, looking at the claims again otherwise", async () => {
    const passes = [false, true];
    const waited = await waitAsOwner([claims(0)], { finalPass: async () => passes.shift() ?? true });
    expect(waited).toMatchObject({ complete: true, looks: 2, runs: 0 });
    expect(passes).toEqual([]);
  });

  it("gives up once claims are still held after maxWaitMs: the run is incomplete", async () => {
    const waited = await waitAsOwner([claims(1)], { maxWaitMs: 200 });
    expect(waited.complete).toBe(false);
    expect(waited.tookMs).toBeGreaterThanOrEqual(200);
  });

  it("hands the tick back (RetryLaterError, no delay) when the replica stops while waiting", async () => {
    let stopping = false;
    const waiting = waitAsOwner([claims(1)], {
      stopping: () => stopping,
      runAgain: async () => {
        stopping = true;
      },
    });
    await expect(waiting).rejects.toThrow(RetryLaterError);
    await expect(waiting).rejects.toMatchObject({
      message: "replica stopping during a test run",
      delayMs: 0,
    });
  });

  it("hands the tick back when the replica was already stopping, even with no claim left", async () => {
    await expect(waitAsOwner([claims(0)], { stopping: () => true })).rejects.toThrow(RetryLaterError);
  });
});

describe("tickRunConsumer", () => {
  it("runs each tick of its schedule, one at a time per replica", async () => {
    const ran: string[] = [];
    const definition = tickRunConsumer({
      durable: "tick-run-test",
      description: "test",
      schedule: "tick-run-test",
      coordinator: {
        runTick: async (jobRunId) => {
          ran.push(jobRunId);
        },
      },
    });
    expect(definition).toMatchObject({
      stream: "ticks",
      filterSubject: "tick.tick-run-test",
      concurrency: 1,
      prefetch: 1,
    });

    const consumer = await busA.consume(definition);
    const jobRunId = crypto.randomUUID();
    await busA.publish(
      createEvent(
        "tick",
        {
          schedule: "tick-run-test",
          slot: new Date().toISOString(),
          catchUp: false,
          manual: false,
          jobRunId,
        },
        { source: "test" },
      ),
    );
    await waitFor(() => ran.length > 0, "the tick", { timeoutMs: 5_000 });
    expect(ran).toEqual([jobRunId]);
    await consumer.stop();
  });
});
