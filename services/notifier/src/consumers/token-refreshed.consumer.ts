import type { ConsumerDefinition } from "@syncwell/bus";
import type { NotifyBatches } from "../engine/notify-batches.ts";

const DURABLE = "notifier-token-refreshed";

/**
 * `token.refreshed`: a recovery closes the connection's episode, resolves what it told the user and
 * says the connection is back. A refresh that is not a recovery changes nothing (and is still
 * recorded in the inbox, in its batch).
 */
export function tokenRefreshedConsumer(batches: NotifyBatches): ConsumerDefinition {
  return {
    durable: DURABLE,
    description: "Tells a user their connection works again and resolves its earlier notifications",
    stream: "tokens",
    filterSubject: "token.refreshed",
    concurrency: 256,
    // Pulled ahead of the handlers: enough to start the next batch at once, not a backlog held in memory.
    prefetch: 128,
    ackWaitMs: 60_000,
    handlers: {
      "token.refreshed": (event, ctx) => batches.submit(ctx.consumer, event),
    },
  };
}
