import type { Queryable } from "@syncwell/db";

export type SetAsideEvent = {
  id: string;
  type: string;
  source: string;
  attempts: number;
  setAsideAt: Date;
  reason: string;
};

/** Outbox events set aside by a relay, oldest first (`source` narrows to one service's). */
export async function listSetAside(
  db: Queryable,
  filter: { source?: string | undefined } = {},
): Promise<SetAsideEvent[]> {
  const { rows } = await db.query<SetAsideEvent>(
    `SELECT id, type, source, attempts, set_aside_at AS "setAsideAt", coalesce(set_aside_reason, '') AS reason
     FROM outbox_events
     WHERE set_aside_at IS NOT NULL AND published_at IS NULL AND ($1::text IS NULL OR source = $1)
     ORDER BY created_at, id`,
    [filter.source ?? null],
  );
  return rows;
}

/**
 * Puts set-aside events back in line for their relay (attempts start again from 0); `ids`
 * undefined: all of them (of `source`, when given). Resolves the ids put back.
 */
export async function retrySetAside(
  db: Queryable,
  filter: { source?: string | undefined; ids?: readonly string[] | undefined },
): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `UPDATE outbox_events SET set_aside_at = NULL, set_aside_reason = NULL, attempts = 0
     WHERE set_aside_at IS NOT NULL AND published_at IS NULL
       AND ($1::text IS NULL OR source = $1) AND ($2::uuid[] IS NULL OR id = ANY($2::uuid[]))
     RETURNING id`,
    [filter.source ?? null, filter.ids ?? null],
  );
  return rows.map((r) => r.id);
}
