import type { BusMetrics, ConsumerDefinition } from "@syncwell/bus";
import type pg from "pg";
import type { PollerServices } from "../engine/start-polling.ts";
import { tickPollConsumer } from "./tick-poll.consumer.ts";
import { tokenFailedConsumer } from "./token-failed.consumer.ts";
import { tokenRefreshedConsumer } from "./token-refreshed.consumer.ts";

/** The poller's durable consumers (the catalog; each definition is in its own file). */
export function pollerConsumers(
  poller: PollerServices,
  deps: { pool: pg.Pool; metrics: BusMetrics },
): ConsumerDefinition[] {
  return [
    tickPollConsumer(poller, deps),
    tokenRefreshedConsumer(poller, deps.pool),
    tokenFailedConsumer(deps.pool),
  ];
}
