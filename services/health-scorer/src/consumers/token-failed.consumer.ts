import type { ConsumerDefinition } from "@syncwell/bus";
import type { HealthScoring } from "../engine/scoring.ts";

const DURABLE = "health-scorer-token-failed";

/**
 * `token.failed`: the connection's health is recomputed from its row (failure counters, status,
 * retry time), so events arriving out of order or twice end in the row's current health.
 * Idempotent by construction, as `token.refreshed`.
 */
export function tokenFailedConsumer(scoring: HealthScoring): ConsumerDefinition {
  return {
    durable: DURABLE,
    description: "Recomputes a connection's health after a failed token refresh",
    stream: "tokens",
    filterSubject: "token.failed",
    concurrency: 16,
    handlers: {
      "token.failed": async (event, ctx) => {
        const outcome = await scoring.scoreConnection(event.data.connectionId);
        if (outcome.written && outcome.changed) {
          ctx.logger.debug(
            { connectionId: event.data.connectionId, ...outcome },
            "connection health changed",
          );
        }
      },
    },
  };
}
