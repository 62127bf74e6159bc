import type { ConsumerDefinition } from "@syncwell/bus";
import type { RefreshServices } from "../refresh/refresh-services.ts";

export const TOKEN_REFRESH_SCHEDULE = "token-refresh";

/**
 * `tick.token-refresh`: refresh every connection whose access token expires within the lead time
 * (and refresh tokens idle for too long). The handler runs until the whole run is done, on every
 * replica (see RefreshRunCoordinator); the bus keeps the message alive meanwhile (`msg.working()`),
 * and one tick at a time per replica (prefetch 1) leaves further ticks to idle replicas.
 */
export function tokenRefreshTickConsumer(refresh: RefreshServices): ConsumerDefinition {
  return {
    durable: "token-service-refresh",
    description: "Refreshes access tokens that expire within REFRESH_LEAD_TIME, on tick.token-refresh",
    stream: "ticks",
    filterSubject: `tick.${TOKEN_REFRESH_SCHEDULE}`,
    concurrency: 1,
    prefetch: 1,
    ackWaitMs: 60_000,
    // A failed run (database down) is retried; most of its work is already written.
    retry: { maxDeliver: 5, initialDelayMs: 5_000, maxDelayMs: 60_000 },
    handlers: {
      tick: async (event, ctx) => {
        await refresh.coordinator.runTick(event.data.jobRunId, ctx.logger);
      },
    },
  };
}
