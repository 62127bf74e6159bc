import type { ConsumerDefinition } from "@syncwell/bus";
import type { HealthScoring } from "../engine/scoring.ts";

const DURABLE = "health-scorer-token-refreshed";

/**
 * `token.refreshed`: the connection's health is recomputed from its row as the token service left
 * it (not from the event, which may arrive late or twice). Idempotent by construction: the same
 * row gives the same score, which writes no history and announces nothing, and an older input
 * never replaces a newer one.
 */
export function tokenRefreshedConsumer(scoring: HealthScoring): ConsumerDefinition {
  return {
    durable: DURABLE,
    description: "Recomputes a connection's health after its token was refreshed",
    stream: "tokens",
    filterSubject: "token.refreshed",
    concurrency: 16,
    handlers: {
      "token.refreshed": async (event, ctx) => {
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
