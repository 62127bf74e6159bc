import { type Context, context } from "@opentelemetry/api";
import type { EventOf } from "@syncwell/contracts";
import { BatchQueue } from "@syncwell/runtime";
import type { Logger } from "@syncwell/telemetry";
import type pg from "pg";
import { advanceMarks, newCommunication } from "../repositories/ingest-marks.repository.ts";
import { openDealsOfContacts, subjectKey } from "../repositories/scores.repository.ts";
import { type BatchCounts, emptyBatchCounts, type HealthScoring, type Subject } from "./scoring.ts";

type Ingested = EventOf<"data.ingested">["data"];

/** One data.ingested waiting for its batch, with the trace its consequences continue. */
type IngestedItem = { data: Ingested; trace: Context };

export type IngestBatchSettings = {
  /** data.ingested events applied together: one read of their new communication, one score write. */
  maxBatch: number;
  /** How long the first event of a batch waits for company. */
  lingerMs: number;
  /** Batches applied at once. */
  maxConcurrent: number;
  /** Subjects per score write (a full sync can make a batch's contacts many). */
  maxScoreWrite: number;
  /** Read events from this long before a connection's mark (see newCommunication). */
  markOverlapMs: number;
  /** A connection without a mark is read from this long ago: the scores' maximum age. */
  noMarkSinceMs: number;
};

/**
 * Applies data.ingested events in batches. A transaction per event would bound the scorer by
 * commits and round trips (docs/decisions/0017); a batch makes one read of the connections' new
 * communication events, one read of the affected deals, and one score write per `maxScoreWrite`
 * subjects. Each event's handler waits for its batch: a batch that fails rejects all of them, and
 * the bus redelivers each; applying a batch again is harmless (scores are computed from rows,
 * and the marks only move forward).
 */
export class IngestBatches {
  private readonly queue: BatchQueue<IngestedItem, void>;
  private readonly scoring: HealthScoring;
  private readonly pool: pg.Pool;
  private readonly logger: Logger;
  private readonly settings: IngestBatchSettings;

  constructor(scoring: HealthScoring, pool: pg.Pool, logger: Logger, settings: IngestBatchSettings) {
    this.scoring = scoring;
    this.pool = pool;
    this.logger = logger;
    this.settings = settings;
    this.queue = new BatchQueue<IngestedItem, void>({
      maxBatch: settings.maxBatch,
      lingerMs: settings.lingerMs,
      maxConcurrent: settings.maxConcurrent,
      run: async (items) => {
        await this.apply(items);
        return items.map(() => undefined);
      },
    });
  }

  /** Resolves when the event's batch is applied; rejects when it could not be. */
  submit(data: Ingested): Promise<void> {
    return this.queue.submit({ data, trace: context.active() });
  }

  async drain(): Promise<void> {
    await this.queue.drain();
  }

  private async apply(items: readonly IngestedItem[]): Promise<void> {
    const started = performance.now();
    const traceOf = new Map<string, Context>();
    for (const { data, trace } of items)
      if (!traceOf.has(data.connectionId)) traceOf.set(data.connectionId, trace);
    // Without new communication events no contact's inputs changed: only the sync's freshness did.
    const withCommunication = [
      ...new Set(items.filter((i) => i.data.communicationEventsCreated > 0).map((i) => i.data.connectionId)),
    ];
    const found = await newCommunication(this.pool, withCommunication, {
      overlapMs: this.settings.markOverlapMs,
      noMarkSinceMs: this.settings.noMarkSinceMs,
      now: new Date(),
    });
    const deals = await openDealsOfContacts(this.pool, found.contactIds);
    const causeOf = new Map<string, Context | undefined>();
    const subjects: Subject[] = [];
    const add = (subject: Subject, trace: Context | undefined) => {
      subjects.push(subject);
      causeOf.set(subjectKey(subject), trace);
    };
    for (const id of traceOf.keys()) add({ subjectType: "connection", subjectId: id }, traceOf.get(id));
    for (const id of found.contactIds)
      add({ subjectType: "contact", subjectId: id }, traceOf.get(found.causes.get(id) ?? ""));
    for (const { dealId, contactId } of deals) {
      add(
        { subjectType: "deal", subjectId: dealId },
        causeOf.get(subjectKey({ subjectType: "contact", subjectId: contactId })),
      );
    }
    const counts = await this.score(subjects, (s) => causeOf.get(subjectKey(s)));
    await advanceMarks(this.pool, found.newest);
    this.logger.debug(
      {
        events: items.length,
        contacts: found.contactIds.length,
        deals: deals.length,
        ...counts,
        ms: Math.round(performance.now() - started),
      },
      "scores recomputed after ingestion",
    );
  }

  private async score(
    subjects: readonly Subject[],
    causeOf: (subject: Subject) => Context | undefined,
  ): Promise<BatchCounts> {
    const total = emptyBatchCounts();
    for (let i = 0; i < subjects.length; i += this.settings.maxScoreWrite) {
      const part = subjects.slice(i, i + this.settings.maxScoreWrite);
      const counts = await this.scoring.scoreBatch(part, { causeOf });
      total.refreshed += counts.refreshed;
      total.changed += counts.changed;
      total.announced += counts.announced;
      total.errors += counts.errors;
    }
    return total;
  }
}
