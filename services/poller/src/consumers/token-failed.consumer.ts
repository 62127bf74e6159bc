import { applyOnce, type ConsumerDefinition } from "@syncwell/bus";
import type pg from "pg";
import { delayConnection, pauseConnection } from "../repositories/sync-state.repository.ts";

const DURABLE = "poller-token-failed";

/** Statuses after which the user has to reconnect: polling pauses until a token.refreshed. */
const GRANT_GONE = new Set(["needs_reauth", "disconnected", "revoked"]);

/**
 * `token.failed`: a connection whose grant is gone (needs_reauth, disconnected, revoked) has its
 * resources paused (`paused_reason = token_<status>`), checked against the connection row so a late
 * event cannot pause a connection that has recovered since. A transient failure only delays its
 * resources until the refresh is retried (next_poll_at ≥ retryAt); the token may still be valid.
 */
export function tokenFailedConsumer(pool: pg.Pool): ConsumerDefinition {
  return {
    durable: DURABLE,
    description:
      "Pauses polling of connections whose grant is gone; delays it after a transient token failure",
    stream: "tokens",
    filterSubject: "token.failed",
    concurrency: 16,
    handlers: {
      "token.failed": async (event, ctx) => {
        const { connectionId, status, retryAt } = event.data;
        const result = await applyOnce(pool, DURABLE, event, async (client) => {
          if (GRANT_GONE.has(status))
            return { paused: await pauseConnection(client, connectionId, `token_${status}`) };
          if (retryAt) return { delayed: await delayConnection(client, connectionId, new Date(retryAt)) };
          return {};
        });
        if (result.applied)
          ctx.logger.info({ connectionId, status, ...result.value }, "token failure applied to polling");
      },
    },
  };
}
