import type { ConsumerDefinition } from "@syncwell/bus";
import type { NotifyBatches } from "../engine/notify-batches.ts";
import { healthChangedConsumer } from "./health-changed.consumer.ts";
import { tokenFailedConsumer } from "./token-failed.consumer.ts";
import { tokenRefreshedConsumer } from "./token-refreshed.consumer.ts";

/** The notifier's durable consumers (the catalog; each definition is in its own file). */
export function notifierConsumers(batches: NotifyBatches): ConsumerDefinition[] {
  return [tokenFailedConsumer(batches), tokenRefreshedConsumer(batches), healthChangedConsumer(batches)];
}
