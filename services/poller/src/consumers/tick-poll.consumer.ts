import type { ConsumerDefinition } from "@syncwell/bus";
import type { PollerServices } from "../service.ts";

export const POLL_SCHEDULE = "poll";

/**
 * `tick.poll`: poll every resource that is due and whose connection has a usable token. The handler
 * runs the whole run (all replicas join through the coordinator's wake-up) and finishes the job
 * run; the bus keeps the message alive meanwhile, and one tick at a time per replica (prefetch 1)
 * leaves further ticks to idle replicas.
 */
export function tickPollConsumer(poller: PollerServices): ConsumerDefinition {
  return {
    durable: "poller-tick",
    description: "Polls due resources of connections with a valid token, on tick.poll",
    stream: "ticks",
    filterSubject: `tick.${POLL_SCHEDULE}`,
    concurrency: 1,
    prefetch: 1,
    ackWaitMs: 60_000,
    // A failed run (database down) is retried; what it polled is already written.
    retry: { maxDeliver: 5, initialDelayMs: 5_000, maxDelayMs: 60_000 },
    handlers: {
      tick: async (event, ctx) => {
        await poller.coordinator.runTick(event.data.jobRunId, ctx.logger);
      },
    },
  };
}
