import { applyOnce, type ConsumerDefinition } from "@syncwell/bus";
import type pg from "pg";
import type { PollerServices } from "../engine/start-polling.ts";
import { resumeConnection } from "../repositories/sync-state.repository.ts";

const DURABLE = "poller-token-refreshed";

/**
 * `token.refreshed`: the connection has a fresh token. Resources paused for a token problem resume
 * (the connection row must be pollable again: events may arrive out of order), resources waiting
 * after a 401 are due at once, and everything due of this connection is polled right away (those
 * that waited for this token among them). The resume is applied once (inbox); the prompt poll runs
 * on every delivery, which is harmless: it only takes what is due.
 */
export function tokenRefreshedConsumer(poller: PollerServices, pool: pg.Pool): ConsumerDefinition {
  return {
    durable: DURABLE,
    description: "Resumes and promptly polls a connection whose token was refreshed",
    stream: "tokens",
    filterSubject: "token.refreshed",
    concurrency: 16,
    ackWaitMs: 60_000,
    handlers: {
      "token.refreshed": async (event, ctx) => {
        const { connectionId } = event.data;
        const applied = await applyOnce(pool, DURABLE, event, (client) =>
          resumeConnection(client, connectionId),
        );
        if (applied.applied && applied.value > 0) {
          ctx.logger.info(
            { connectionId, resumed: applied.value, recovered: event.data.recovered },
            "resources resumed",
          );
        }
        const summary = await poller.engine.run({
          connectionId,
          provider: event.data.provider,
          linger: false,
        });
        if (summary.polled + summary.failed + summary.skipped > 0) {
          ctx.logger.debug({ connectionId, ...summary }, "polled after token refresh");
        }
      },
    },
  };
}
