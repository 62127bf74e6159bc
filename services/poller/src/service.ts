import { defineService } from "@syncwell/service";
import type { Connector } from "./adapters/connectors/connector.ts";
import { connectors as platformConnectors } from "./adapters/connectors/index.ts";
import { pollerConfigSchema } from "./config.ts";
import { pollerConsumers } from "./consumers/index.ts";
import { startPolling } from "./engine/start-polling.ts";

/**
 * The poller: pulls each platform's data incrementally with a valid token, on ticks and when a
 * token is refreshed. Runs the platforms' connectors; tests give their own. main.ts runs it.
 */
export function pollerService(connectors: readonly Connector[] = platformConnectors) {
  return defineService({
    name: "poller",
    configSchema: pollerConfigSchema,
    setup: (ctx) => {
      const polling = startPolling(ctx, connectors);
      return {
        polling,
        consumers: pollerConsumers(polling, { pool: ctx.pool, metrics: ctx.bus.metrics }),
        stop: polling.stop,
      };
    },
  });
}
