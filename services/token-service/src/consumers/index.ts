import type { BusMetrics, ConsumerDefinition } from "@syncwell/bus";
import type { Queryable } from "@syncwell/db";
import type { RefreshServices } from "../engine/start-refresh.ts";
import { tokenRefreshRequestedConsumer } from "./token-refresh-requested.consumer.ts";
import { tokenRefreshTickConsumer } from "./token-refresh-tick.consumer.ts";

/** The token service's durable consumers (the catalog; each definition is in its own file). */
export function tokenServiceConsumers(
  refresh: RefreshServices,
  deps: { pool: Queryable; metrics: BusMetrics },
): ConsumerDefinition[] {
  return [tokenRefreshTickConsumer(refresh, deps), tokenRefreshRequestedConsumer(refresh)];
}
