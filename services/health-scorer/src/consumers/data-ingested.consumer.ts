import type { ConsumerDefinition } from "@syncwell/bus";
import type { IngestBatches } from "../engine/ingest-batches.ts";

const DURABLE = "health-scorer-data";

/**
 * `data.ingested`: the connection's health is rescored (its sync's freshness changed), and so are
 * the contacts with communication events of this connection newer than their scores, and the open
 * deals they take part in. Events are applied in batches (IngestBatches): many handlers run at
 * once, each waiting for the batch holding its event. Idempotent by construction: a redelivered
 * event finds every such contact's score already newer than its events, and rescoring the same
 * rows announces nothing. One subject that fails is logged and counted; the others are still
 * scored, and the event is not retried for it (the next event or the sweep picks it up).
 */
export function dataIngestedConsumer(batches: IngestBatches): ConsumerDefinition {
  return {
    durable: DURABLE,
    description: "Recomputes connection, relationship and deal health after communication is ingested",
    stream: "data",
    filterSubject: "data.ingested",
    // Handlers only wait for their batch: enough of them to fill the batches being applied, and
    // no more messages pulled ahead than that (each held in memory until its batch is done).
    concurrency: 1024,
    prefetch: 1024,
    ackWaitMs: 60_000,
    handlers: {
      "data.ingested": (event) => batches.submit(event.data),
    },
  };
}
