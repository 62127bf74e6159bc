import type { ConsumerDefinition } from "@syncwell/bus";
import type { ServiceContext } from "@syncwell/runtime";
import type { Config } from "../config.ts";
import type { Connector } from "../connectors/connector.ts";
import { pollerServices } from "../service.ts";
import { tickPollConsumer } from "./tick-poll.consumer.ts";
import { tokenFailedConsumer } from "./token-failed.consumer.ts";
import { tokenRefreshedConsumer } from "./token-refreshed.consumer.ts";

/** The poller's durable consumers (the catalog; each definition is in its own file). */
export function pollerConsumers(connectors: readonly Connector[]) {
  return (ctx: ServiceContext<Config>): ConsumerDefinition[] => {
    const poller = pollerServices(ctx, connectors);
    return [
      tickPollConsumer(poller, { pool: ctx.pool, metrics: ctx.bus.metrics }),
      tokenRefreshedConsumer(poller, ctx.pool),
      tokenFailedConsumer(ctx.pool),
    ];
  };
}
