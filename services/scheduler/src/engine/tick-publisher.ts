import { enqueueEvents } from "@syncwell/bus";
import { createEvent, uuidv7 } from "@syncwell/contracts";
import { type Queryable, startJobRun, withTransaction } from "@syncwell/db";
import type pg from "pg";
import { tickEventId } from "../domain/tick-id.ts";

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
  return withTransaction(pool, (client) => insertTick(client, request));
}

/** publishTick inside the caller's transaction. */
async function insertTick(client: Queryable, request: TickRequest): Promise<TickResult> {
  const eventId = tickEventId(request.schedule, request.slot);
  const jobRunId = uuidv7();
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
}

/** A manual trigger refused because the schedule was triggered by hand too recently. */
export type ThrottledTrigger = {
  published: false;
  reason: "throttled";
  /** Slot (= time) of the schedule's latest manual run. */
  lastManualSlot: Date;
  /** From when a manual trigger of this schedule is accepted again. */
  retryAt: Date;
};

/**
 * A manual tick: slot = now, to the millisecond. A slot already taken (a scheduled slot at the same
 * instant, or two triggers in one millisecond) moves on by a millisecond, so a trigger always runs.
 * At most one manual run per schedule per `minIntervalMs` (0: no limit), across replicas: the
 * check and the insert hold a per-schedule advisory lock, so concurrent triggers queue and all but
 * the first see its run. Each manual run is a whole job (every due token refreshed, every
 * connection polled): repeated clicks or a script in a loop would run it again and again.
 */
export async function publishManualTick(
  pool: pg.Pool,
  schedule: string,
  now: Date = new Date(),
  options: { minIntervalMs?: number } = {},
): Promise<PublishedTick | ThrottledTrigger> {
  const minIntervalMs = options.minIntervalMs ?? 0;
  return withTransaction(pool, async (client): Promise<PublishedTick | ThrottledTrigger> => {
    if (minIntervalMs > 0) {
      await client.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [
        `manual-trigger:${schedule}`,
      ]);
      const { rows } = await client.query<{ slot: Date | null }>(
        "SELECT max(slot) AS slot FROM job_runs WHERE schedule = $1 AND manual",
        [schedule],
      );
      const last = rows[0]?.slot;
      if (last && now.getTime() - last.getTime() < minIntervalMs) {
        return {
          published: false,
          reason: "throttled",
          lastManualSlot: last,
          retryAt: new Date(last.getTime() + minIntervalMs),
        };
      }
    }
    for (let offset = 0; offset < 100; offset++) {
      const slot = new Date(now.getTime() + offset);
      const result = await insertTick(client, { schedule, slot, catchUp: false, manual: true });
      if (result.published) return result;
    }
    throw new Error(`could not find a free slot for a manual run of ${schedule}`);
  });
}
