import type { ConsumerDefinition } from "@syncwell/bus";
import type { ServiceContext } from "@syncwell/runtime";
import type { Config } from "../config.ts";
import { refreshServices } from "../refresh/refresh-services.ts";
import { tokenRefreshRequestedConsumer } from "./token-refresh-requested.consumer.ts";
import { tokenRefreshTickConsumer } from "./token-refresh-tick.consumer.ts";

/** The token service's durable consumers (the catalog; each definition is in its own file). */
export function consumers(ctx: ServiceContext<Config>): ConsumerDefinition[] {
  const refresh = refreshServices(ctx);
  return [
    tokenRefreshTickConsumer(refresh, { pool: ctx.pool, metrics: ctx.bus.metrics }),
    tokenRefreshRequestedConsumer(refresh),
  ];
}
