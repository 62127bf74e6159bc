import type { BusMetrics, ConsumerDefinition } from "@syncwell/bus";
import type { Queryable } from "@syncwell/db";
import { tickRunConsumer } from "@syncwell/tick-runs";
import type { RefreshServices } from "../engine/start-refresh.ts";

export const TOKEN_REFRESH_SCHEDULE = "token-refresh";

/**
 * `tick.token-refresh`: refresh every connection whose access token expires within the lead time
 * (and refresh tokens idle for too long), on all replicas (see refreshTickRuns).
 */
export function tokenRefreshTickConsumer(
  refresh: RefreshServices,
  deps: { pool: Queryable; metrics: BusMetrics },
): ConsumerDefinition {
  return tickRunConsumer({
    durable: "token-service-refresh",
    description: "Refreshes access tokens that expire within REFRESH_LEAD_TIME, on tick.token-refresh",
    schedule: TOKEN_REFRESH_SCHEDULE,
    coordinator: refresh.coordinator,
    ...deps,
  });
}
