import { withTransaction } from "@syncwell/db";
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
