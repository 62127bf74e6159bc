import type { BusMetrics, ConsumerDefinition } from "@syncwell/bus";
import type { Queryable } from "@syncwell/db";
import { tickRunConsumer } from "@syncwell/tick-runs";
import type { PollerServices } from "../engine/start-polling.ts";

export const POLL_SCHEDULE = "poll";

/**
 * `tick.poll`: poll every resource that is due and whose connection has a usable token, on all
 * replicas (see pollTickRuns).
 */
export function tickPollConsumer(
  poller: PollerServices,
  deps: { pool: Queryable; metrics: BusMetrics },
): ConsumerDefinition {
  return tickRunConsumer({
    durable: "poller-tick",
    description: "Polls due resources of connections with a valid token, on tick.poll",
    schedule: POLL_SCHEDULE,
    coordinator: poller.coordinator,
    ...deps,
  });
}
