// The parts of the page statement that record communication events, present only when a page of
// the batch has candidates. Each returns one `name AS (…)` of the WITH list (see statement.ts); the
// text is part of the prepared statement, so a change here changes its plan.

/**
 * `comms`: a communication event per record and contact the user knows, once: from the candidates
 * in `$7`–`$13` whose record was written (`seen`) and whose address is one of the user's contacts.
 */
export const commsCte = (): string => `comms AS (
       INSERT INTO communication_events
         (id, user_id, contact_id, connection_id, raw_record_id, channel, direction, occurred_at)
       SELECT c.id, p.user_id, ct.id, p.connection_id, s.id, c.channel, c.direction, c.occurred_at
       FROM (
         SELECT c.k, c.id, c.external_id, c.email, c.channel, c.direction, to_timestamp(c.occurred_ms / 1000) AS occurred_at
         FROM unnest($7::int[], $8::uuid[], $9::text[], $10::text[], $11::text[], $12::text[], $13::float8[])
           AS c(k, id, external_id, email, channel, direction, occurred_ms)) c
       JOIN pages p ON p.k = c.k
       JOIN seen s ON s.k = c.k AND s.external_id = c.external_id
       CROSS JOIN LATERAL (
         SELECT ct.id FROM contacts ct WHERE ct.user_id = p.user_id AND ct.email = c.email OFFSET 0) ct
       -- A record inserted by this statement has no events yet; one seen before may (once per
       -- contact). No ON CONFLICT, for the reason given at "existing".
       WHERE s.inserted OR NOT EXISTS (
         SELECT 1 FROM communication_events e WHERE e.raw_record_id = s.id AND e.contact_id = ct.id)
       RETURNING raw_record_id
     )`;

/**
 * `comm_counts`: per page, the events created. Each event's page is looked up in a record id →
 * page map, computed once (an InitPlan) and binary-searched per event: a join of `comms` and `seen`
 * is planned as a nested loop over both (their row counts are unknown to the planner), which costs
 * events × records comparisons per batch.
 */
export const commCountsCte = (): string => `comm_counts AS (
       SELECT ((SELECT jsonb_object_agg(s.id::text, s.k) FROM seen s) ->> c.raw_record_id::text)::int AS k,
              count(*)::int AS comms
       FROM comms c
       GROUP BY 1
     )`;
