import type { ConsumerDefinition } from "@syncwell/bus";
import type { RefreshServices } from "../engine/start-refresh.ts";

/** Several pollers reporting the same 401 within this long cause one refresh. */
const MIN_INTERVAL_MS = 30_000;

/**
 * `token.refresh-requested` (the poller got a 401): refresh that connection now, ahead of its
 * expiry, through the same claim, single flight and outcome path as a tick. A connection another
 * worker is refreshing, or one refreshed moments ago, is left alone: that refresh answers the request.
 */
export function tokenRefreshRequestedConsumer(refresh: RefreshServices): ConsumerDefinition {
  return {
    durable: "token-service-refresh-requests",
    description: "Refreshes one connection on demand (token.refresh-requested, e.g. after a 401)",
    stream: "tokens",
    filterSubject: "token.refresh-requested",
    concurrency: 16,
    handlers: {
      "token.refresh-requested": async (event, ctx) => {
        const outcome = await refresh.engine.refreshOne(event.data.connectionId, MIN_INTERVAL_MS);
        ctx.logger.info(
          { connectionId: event.data.connectionId, provider: event.data.provider, outcome },
          "on-demand token refresh",
        );
      },
    },
  };
}
