import type { BusMetrics, ConsumerDefinition } from "@syncwell/bus";
import type { Queryable } from "@syncwell/db";
import { tickRunConsumer } from "@syncwell/tick-runs";
import type { HealthSweepTickRuns } from "../engine/health-sweep-tick-runs.ts";

export const HEALTH_SWEEP_SCHEDULE = "health-sweep";

/** `tick.health-sweep`: recompute stale scores of active users, on all replicas (see healthSweepTickRuns). */
export function tickHealthSweepConsumer(
  sweep: HealthSweepTickRuns,
  deps: { pool: Queryable; metrics: BusMetrics },
): ConsumerDefinition {
  return tickRunConsumer({
    durable: "health-scorer-sweep",
    description: "Recomputes scores older than their maximum age for active users, on tick.health-sweep",
    schedule: HEALTH_SWEEP_SCHEDULE,
    coordinator: sweep,
    ...deps,
  });
}
