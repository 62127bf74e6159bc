import type { ConsumerDefinition } from "@syncwell/bus";
import type { NotifyBatches } from "../engine/notify-batches.ts";

const DURABLE = "notifier-token-failed";

/**
 * `token.failed`: the token ladder (warning, rate-limit notice, disconnected with an email), under
 * the connection's episode. Applied in batches; the inbox makes a redelivered event change
 * nothing.
 */
export function tokenFailedConsumer(batches: NotifyBatches): ConsumerDefinition {
  return {
    durable: DURABLE,
    description: "Tells a user their connection is failing, rate-limited or disconnected",
    stream: "tokens",
    filterSubject: "token.failed",
    // Handlers only wait for their batch: enough of them to fill batches.
    concurrency: 512,
    // Pulled ahead of the handlers: enough to start the next batch at once, not a backlog held in memory.
    prefetch: 256,
    ackWaitMs: 60_000,
    handlers: {
      "token.failed": (event, ctx) => batches.submit(ctx.consumer, event),
    },
  };
}
