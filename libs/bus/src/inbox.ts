import { type Queryable, withTransaction } from "@syncwell/db";
import type { Pool, PoolClient } from "pg";

export type InboxResult<T> = { applied: true; value: T } | { applied: false };

/**
 * Applies an event's effects at most once per consumer. The event id is recorded in
 * `processed_events` in the same transaction as the effects: a redelivered or re-published event
 * finds its id and changes nothing. A concurrent second delivery waits on the first one's row lock
 * and then sees the conflict.
 */
export async function applyOnce<T>(
  pool: Pool,
  consumer: string,
  event: { id: string; type: string },
  effects: (client: PoolClient) => Promise<T>,
): Promise<InboxResult<T>> {
  return withTransaction(pool, async (client): Promise<InboxResult<T>> => {
    const inserted = await client.query(
      `INSERT INTO processed_events (consumer, event_id, event_type) VALUES ($1, $2, $3)
       ON CONFLICT DO NOTHING`,
      [consumer, event.id, event.type],
    );
    if (inserted.rowCount === 0) return { applied: false };
    return { applied: true, value: await effects(client) };
  });
}

/** One event as a consumer records it in the inbox. */
export type InboxEntry = { consumer: string; id: string; type: string };

/**
 * The inbox of a writer that applies many events in one transaction (group commit): records
 * every (consumer, event) of the batch in one statement, in the caller's transaction, and returns
 * the entries not applied before, each once and in the order given. The caller applies exactly
 * those in the same transaction, so a redelivered event, or the same one twice in a batch,
 * changes nothing. Rows are written in key order, so two batches holding the same events wait
 * for each other instead of deadlocking.
 */
export async function recordFirstApplications<E extends InboxEntry>(
  client: Queryable,
  entries: readonly E[],
): Promise<E[]> {
  if (entries.length === 0) return [];
  const sorted = [...entries].sort((a, b) =>
    a.consumer === b.consumer ? (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) : a.consumer < b.consumer ? -1 : 1,
  );
  const { rows } = await client.query<{ consumer: string; id: string }>(
    `INSERT INTO processed_events (consumer, event_id, event_type)
     SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[])
     ON CONFLICT DO NOTHING
     RETURNING consumer, event_id::text AS id`,
    [sorted.map((e) => e.consumer), sorted.map((e) => e.id), sorted.map((e) => e.type)],
  );
  const fresh = new Set(rows.map((r) => `${r.consumer}\u0000${r.id}`));
  return entries.filter((e) => fresh.delete(`${e.consumer}\u0000${e.id}`));
}
