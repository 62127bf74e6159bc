import type { ConsumerDefinition } from "@syncwell/bus";
import type { NotifyBatches } from "../engine/notify-batches.ts";

const DURABLE = "notifier-health";

/**
 * `health.changed`: a connection, relationship or deal turning critical, ghost or stalled is told
 * in-app (and by email with NOTIFY_HEALTH_EMAIL); back to healthy resolves what its episode told.
 */
export function healthChangedConsumer(batches: NotifyBatches): ConsumerDefinition {
  return {
    durable: DURABLE,
    description: "Tells a user a connection, relationship or deal needs attention",
    stream: "health",
    filterSubject: "health.changed",
    concurrency: 512,
    // Pulled ahead of the handlers: enough to start the next batch at once, not a backlog held in memory.
    prefetch: 256,
    ackWaitMs: 60_000,
    handlers: {
      "health.changed": (event, ctx) => batches.submit(ctx.consumer, event),
    },
  };
}
