import type { ConsumerDefinition } from "@syncwell/bus";
import type pg from "pg";
import type { HealthScoring, Subject } from "../engine/scoring.ts";
import { contactsWithNewEvents, openDealsOfContacts } from "../repositories/scores.repository.ts";

const DURABLE = "health-scorer-data";

/**
 * `data.ingested`: the contacts with communication events of this connection newer than their
 * score (from the event's window on, when it has one) are rescored, then the open deals they take
 * part in. Idempotent by construction: a redelivered event finds every such contact's score
 * already newer than its events, and rescoring the same rows announces nothing. One subject that
 * fails is logged and counted; the others are still scored, and the event is not retried for it
 * (the next event or the sweep picks it up).
 */
export function dataIngestedConsumer(scoring: HealthScoring, pool: pg.Pool): ConsumerDefinition {
  return {
    durable: DURABLE,
    description: "Recomputes relationship and deal health of contacts with newly ingested communication",
    stream: "data",
    filterSubject: "data.ingested",
    concurrency: 8,
    ackWaitMs: 60_000,
    handlers: {
      "data.ingested": async (event, ctx) => {
        const { connectionId, userId, window, communicationEventsCreated } = event.data;
        // The connection synced: its freshness changed.
        const subjects: Subject[] = [{ subjectType: "connection", subjectId: connectionId }];
        // Without new communication events no contact's inputs changed (the search reads every
        // contact of the user, so it is skipped when it cannot find anything).
        const contacts =
          communicationEventsCreated === 0
            ? []
            : await contactsWithNewEvents(pool, {
                userId,
                connectionId,
                since: window ? new Date(window.from) : null,
              });
        const deals = await openDealsOfContacts(pool, contacts);
        subjects.push(
          ...contacts.map((id) => ({ subjectType: "contact" as const, subjectId: id })),
          ...deals.map((id) => ({ subjectType: "deal" as const, subjectId: id })),
        );
        const counts = await scoring.scoreBatch(subjects);
        ctx.logger.debug(
          { connectionId, contacts: contacts.length, deals: deals.length, ...counts },
          "scores recomputed after ingestion",
        );
      },
    },
  };
}
