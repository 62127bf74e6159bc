import { enqueueEvents } from "@syncwell/bus";
import { createEvent, uuidv7 } from "@syncwell/contracts";
import { startJobRun, withTransaction } from "@syncwell/db";
import type pg from "pg";
import { tickEventId } from "./domain/tick-id.ts";

export type TickRequest = {
  schedule: string;
  slot: Date;
  catchUp: boolean;
  manual: boolean;
};

export type PublishedTick = {
  published: true;
  eventId: string;
  jobRunId: string;
  slot: Date;
};

export type TickResult = PublishedTick | { published: false; reason: "slot_taken"; slot: Date };

/**
 * Creates the slot's job run and enqueues its tick in one transaction: the tick goes to the outbox
 * only if this call created the run, so of any number of replicas firing the same slot exactly one
 * publishes it, even long after the stream's duplicate window. The outbox relay publishes it with
 * the current trace context (the caller's span).
 */
export async function publishTick(pool: pg.Pool, request: TickRequest): Promise<TickResult> {
  const eventId = tickEventId(request.schedule, request.slot);
  const jobRunId = uuidv7();
  return withTransaction(pool, async (client): Promise<TickResult> => {
    const run = await startJobRun(client, {
      id: jobRunId,
      schedule: request.schedule,
      slot: request.slot,
      tickEventId: eventId,
      catchUp: request.catchUp,
      manual: request.manual,
    });
    if (!run.started) return { published: false, reason: run.reason, slot: request.slot };
    const tick = createEvent(
      "tick",
      {
        schedule: request.schedule,
        slot: request.slot.toISOString(),
        catchUp: request.catchUp,
        manual: request.manual,
        jobRunId,
      },
      { source: "scheduler", id: eventId },
    );
    await enqueueEvents(client, tick);
    return { published: true, eventId, jobRunId, slot: request.slot };
  });
}

/**
 * A manual tick: slot = now, to the millisecond. A slot already taken (a scheduled slot at the same
 * instant, or two triggers in one millisecond) moves on by a millisecond, so a trigger always runs.
 */
export async function publishManualTick(
  pool: pg.Pool,
  schedule: string,
  now: Date = new Date(),
): Promise<PublishedTick> {
  for (let offset = 0; offset < 100; offset++) {
    const result = await publishTick(pool, {
      schedule,
      slot: new Date(now.getTime() + offset),
      catchUp: false,
      manual: true,
    });
    if (result.published) return result;
  }
  throw new Error(`could not find a free slot for a manual run of ${schedule}`);
}
