import { trace } from "@opentelemetry/api";
import { type Backoff, backoffDelayMs } from "@syncwell/runtime";
import { inSpan, type Logger, repeatedFailureLog } from "@syncwell/telemetry";
import type pg from "pg";
import { decideFire, type FireDecision } from "../domain/fire-decision.ts";
import { latestSlotAtOrBefore, nextSlotAfter, type Schedule } from "../domain/schedule.ts";
import { lastScheduledRunSlot } from "../repositories/job-run-reports.repository.ts";
import { publishTick } from "./tick-publisher.ts";

const tracer = trace.getTracer("@syncwell/scheduler");

export type ScheduleRunnerOptions = {
  /** Switched-off schedules (no cron) are ignored. */
  schedules: Schedule[];
  pool: pg.Pool;
  logger: Logger;
  /** A tick fired later than this after its slot is marked catchUp. */
  lateAfterMs: number;
  /** Missed slots older than this are not caught up (undefined: no bound beyond one period). */
  maxCatchUpAgeMs?: number | undefined;
  /** Longest single sleep: a jump of the wall clock is noticed within this. Default 60 s. */
  maxSleepMs?: number;
  /** Wall clock; tests may pass their own. */
  clock?: () => Date;
};

export type ScheduleRunner = {
  /** Stops the timers and waits for a tick being fired to finish. */
  stop(): Promise<void>;
};

/** Delays before firing again after a failure (Postgres away): growing, jittered, at most 30 s. */
const RETRY_BACKOFF: Backoff = {
  initialDelayMs: 1_000,
  maxDelayMs: 30_000,
  factor: 2,
};

/**
 * One timer per schedule, armed for the schedule's next slot. On every wake the slot to fire comes
 * from the cron expression and the wall clock (the latest slot at or before now), never from the
 * timer itself: a timer that fires early, late, or after the clock jumped, or a process that was
 * stalled for several slots, still fires the right slot, once. Sleeps are capped (`maxSleepMs`)
 * because Node timers run on the monotonic clock, which does not follow wall-clock corrections.
 *
 * Firing compares the slot with the schedule's last run in job_runs (catch-up after downtime, see
 * decideFire) and then creates run + tick in one transaction (publishTick): replicas need no
 * coordination, the unique (schedule, slot) of job_runs lets exactly one of them publish.
 */
export async function startScheduleRunner(options: ScheduleRunnerOptions): Promise<ScheduleRunner> {
  const log = options.logger.child({ component: "schedule-runner" });
  let stopped = false;
  const shared: LoopDeps = {
    pool: options.pool,
    log,
    clock: options.clock ?? (() => new Date()),
    maxSleepMs: options.maxSleepMs ?? 60_000,
    lateAfterMs: options.lateAfterMs,
    maxCatchUpAgeMs: options.maxCatchUpAgeMs,
    isStopped: () => stopped,
  };

  const loops = options.schedules.filter((s) => s.cron !== null).map((s) => startLoop(s, shared));
  await Promise.all(loops.map((loop) => loop.first()));
  log.info({ schedules: loops.map((l) => l.name) }, "schedule timers armed");

  return {
    async stop() {
      stopped = true;
      await Promise.all(loops.map((loop) => loop.stop()));
      log.info("schedule timers stopped");
    },
  };
}

/** What every schedule's loop shares. */
type LoopDeps = {
  pool: pg.Pool;
  log: Logger;
  clock: () => Date;
  maxSleepMs: number;
  lateAfterMs: number;
  maxCatchUpAgeMs: number | undefined;
  /** True once the runner is stopping: no more wakes or timers. */
  isStopped: () => boolean;
};

/** The timer of one schedule: each wake fires the latest slot if it is new, then arms for the next. */
function startLoop(schedule: Schedule, deps: LoopDeps) {
  const { clock, log } = deps;
  /** The slot the timer is armed for; null until the first arm (start-up). */
  let expected: Date | null = null;
  /** The latest slot this loop has decided on (fired, or found fired elsewhere). */
  let handled: Date | null = null;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> | undefined;
  const failures = repeatedFailureLog(log, `firing a slot of ${schedule.name}`);

  async function wake(): Promise<void> {
    timer = undefined;
    if (deps.isStopped()) return;
    const now = clock();
    const latest = latestSlotAtOrBefore(schedule, now);
    if (latest && (!handled || latest.getTime() > handled.getTime())) {
      try {
        await fire(deps, schedule, { latest, expected, now });
        handled = latest;
        failures.succeeded({ schedule: schedule.name });
      } catch (err) {
        failures.failed(err, { schedule: schedule.name, slot: latest });
        arm(backoffDelayMs(RETRY_BACKOFF, failures.consecutive));
        return;
      }
    }
    arm();
  }

  function arm(retryInMs?: number): void {
    if (deps.isStopped()) return;
    const now = clock();
    const next = nextSlotAfter(schedule, now);
    if (!next && retryInMs === undefined) {
      log.info({ schedule: schedule.name }, "schedule has no future slot");
      return;
    }
    expected = next;
    const untilNext = next ? next.getTime() - now.getTime() : Number.POSITIVE_INFINITY;
    const delay = Math.max(0, Math.min(untilNext, deps.maxSleepMs, retryInMs ?? Number.POSITIVE_INFINITY));
    timer = setTimeout(() => {
      inFlight = wake().finally(() => {
        inFlight = undefined;
      });
    }, delay);
    timer.unref();
  }

  return {
    name: schedule.name,
    /** The start-up check (catch-up), which then arms the timer. */
    first: () => wake(),
    async stop() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (inFlight) await inFlight;
    },
  };
}

/**
 * Fires `latest` unless decideFire says otherwise. `expected` is the slot the timer was armed for
 * (null at start-up).
 */
async function fire(
  deps: LoopDeps,
  schedule: Schedule,
  { latest, expected, now }: { latest: Date; expected: Date | null; now: Date },
): Promise<void> {
  const lastRunSlot = await lastScheduledRunSlot(deps.pool, schedule.name);
  const decision = decideFire({
    latestSlot: latest,
    expectedSlot: expected,
    lastRunSlot,
    slotAfterLastRun: lastRunSlot ? nextSlotAfter(schedule, lastRunSlot) : null,
    now,
    lateAfterMs: deps.lateAfterMs,
    maxCatchUpAgeMs: deps.maxCatchUpAgeMs,
  });
  if (!decision.fire) {
    deps.log.debug(
      { schedule: schedule.name, slot: decision.slot, reason: decision.reason },
      "slot not fired",
    );
    return;
  }
  await publishSlot(deps, schedule, decision);
}

/** Creates the slot's run and tick (or finds another replica did), in the span that roots the tick's trace. */
async function publishSlot(
  deps: LoopDeps,
  schedule: Schedule,
  decision: Extract<FireDecision, { fire: true }>,
): Promise<void> {
  const { log } = deps;
  // The root of the tick's trace: the outbox row stores this context, the relay's publish continues it.
  const attributes = {
    "syncwell.schedule": schedule.name,
    "syncwell.slot": decision.slot.toISOString(),
    "syncwell.catch_up": decision.catchUp,
  };
  await inSpan(tracer, `fire ${schedule.name}`, { attributes }, async (span) => {
    const result = await publishTick(deps.pool, {
      schedule: schedule.name,
      slot: decision.slot,
      catchUp: decision.catchUp,
      manual: false,
    });
    span.setAttribute("syncwell.published", result.published);
    if (!result.published) {
      log.debug({ schedule: schedule.name, slot: result.slot }, "slot already taken by another replica");
      return;
    }
    log.info(
      {
        schedule: schedule.name,
        slot: result.slot.toISOString(),
        catchUp: decision.catchUp,
        jobRunId: result.jobRunId,
        eventId: result.eventId,
        lagMs: deps.clock().getTime() - result.slot.getTime(),
      },
      decision.catchUp ? "tick enqueued (catch-up)" : "tick enqueued",
    );
  });
}
