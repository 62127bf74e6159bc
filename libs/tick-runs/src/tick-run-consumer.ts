import type { BusMetrics, ConsumerDefinition } from "@syncwell/bus";
import { finishJobRun, type Queryable } from "@syncwell/db";
import type { Logger } from "pino";

/** Ticks older than this (from their slot, or their publication for a catch-up) are skipped. */
const DEFAULT_STALE_AFTER_MS = 15 * 60_000;
/** A tick run's deadline: past it the run is stopped and the tick retried (its job run continues). */
const DEFAULT_TICK_TIMEOUT_MS = 30 * 60_000;

/**
 * The durable consumer of `tick.<schedule>` whose handler runs one tick across all replicas (a
 * coordinator using SharedTickRuns) and finishes its job run. The bus keeps the message alive while
 * the handler runs (`msg.working()`), up to the run's deadline (`timeoutMs`), and one tick at a
 * time per replica (prefetch 1) leaves further ticks to idle replicas.
 *
 * A tick that waited too long (`staleAfterMs` past its slot, or past its publication for a
 * catch-up tick) is not run: its job run ends `skipped` with the reason, and
 * `syncwell_ticks_skipped_total` counts it. The next slot's tick does the work.
 */
export function tickRunConsumer(options: {
  /** Durable name, shared by the service's replicas. */
  durable: string;
  description: string;
  /** The scheduler's schedule name: the consumer reads `tick.<schedule>`. */
  schedule: string;
  /** Runs one tick to completion on all replicas and finishes its job run. */
  coordinator: { runTick(jobRunId: string, logger: Logger, signal?: AbortSignal): Promise<unknown> };
  /** Finishes skipped ticks' job runs (without it, the scheduler's deadline sweep ends them). */
  pool?: Queryable;
  staleAfterMs?: number;
  timeoutMs?: number;
  metrics?: BusMetrics;
}): ConsumerDefinition {
  const staleAfterMs = options.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
  return {
    durable: options.durable,
    description: options.description,
    stream: "ticks",
    filterSubject: `tick.${options.schedule}`,
    concurrency: 1,
    prefetch: 1,
    ackWaitMs: 60_000,
    timeoutMs: options.timeoutMs ?? DEFAULT_TICK_TIMEOUT_MS,
    // A failed run (database down) is retried; the work it did is already written.
    retry: { maxDeliver: 5, initialDelayMs: 5_000, maxDelayMs: 60_000 },
    handlers: {
      tick: async (event, ctx) => {
        const age = Date.now() - Math.max(Date.parse(event.data.slot), Date.parse(event.occurredAt));
        if (age > staleAfterMs) {
          const reason = `tick arrived ${Math.round(age / 1000)} s after its slot ${event.data.slot}; ticks older than ${Math.round(staleAfterMs / 1000)} s are skipped (the next slot does the work)`;
          if (options.pool) {
            await finishJobRun(options.pool, event.data.jobRunId, { status: "skipped", error: reason });
          }
          options.metrics?.ticksSkipped.inc({ schedule: options.schedule, reason: "stale" });
          ctx.logger.warn(
            { jobRunId: event.data.jobRunId, slot: event.data.slot, ageMs: age },
            "stale tick skipped",
          );
          return;
        }
        await options.coordinator.runTick(event.data.jobRunId, ctx.logger, ctx.signal);
      },
    },
  };
}
