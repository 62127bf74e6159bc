// The parts of the page statement that store the records: each record looked up once, then
// inserted, updated or touched, and on the last page of a full listing the ones not seen marked
// deleted. Each returns one `name AS (…)` of the WITH list (see statement.ts); the text is part of
// the prepared statement, so a change here changes its plan.

/**
 * A record's content hash, computed by Postgres from the stored jsonb: its 64-bit jsonb hash (the
 * one hash indexes use), as 16 hex digits. jsonb keeps one key order and no insignificant
 * whitespace, so the same content always has the same hash, whatever key order or spacing the
 * platform sent, and no copy of every payload has to be sorted in the poller first. The hash tells
 * a record's new content from its previous one, nothing more: 64 bits are plenty for that, and it
 * is far cheaper than a sha256 of the jsonb's text. (Should a Postgres upgrade ever change jsonb
 * hashing, each record would count as updated once.)
 */
export const contentHashSql = (jsonb: string): string =>
  `lpad(to_hex(jsonb_hash_extended(${jsonb}, 0)), 16, '0')`;

/**
 * `input`: the records of the held pages, each payload parsed once (OFFSET 0: the sub-query is not
 * flattened into two casts). From the columns in `$2`–`$5` and the payloads in `$6`.
 */
export const inputCte = (): string => `input AS MATERIALIZED (
       SELECT t.k, t.id, p.connection_id, p.platform, p.resource, t.external_id,
              ${contentHashSql("t.payload")} AS content_hash, t.occurred_at, t.payload
       FROM (
         SELECT r.k, r.id, r.external_id, to_timestamp(r.occurred_ms / 1000) AS occurred_at, r.payload_text::jsonb AS payload
         FROM unnest($2::int[], $3::uuid[], $4::text[], $5::float8[], string_to_array($6::text, E'\\x1e'))
           AS r(k, id, external_id, occurred_ms, payload_text)
         OFFSET 0) t
       JOIN held h ON h.k = t.k JOIN pages p ON p.k = t.k
     )`;

/**
 * `existing`: each record's current row, if any, and whether its content changed (or it was
 * marked deleted and came back): looked up once, then inserted, updated or touched.
 *
 * No ON CONFLICT: its speculative insertion costs more per new record than this lookup, and it is
 * not needed. Only this statement's poll writes the resource's records (every write is guarded by
 * `held`, the sync state's row lock), so nothing can insert the same key meanwhile; should anything
 * ever do so, the unique index refuses it rather than storing it twice.
 */
export const existingCte = (): string => `existing AS MATERIALIZED (
       SELECT i.k, i.external_id, x.id, x.changed
       FROM input i
       CROSS JOIN LATERAL (
         SELECT r.id, (r.content_hash IS DISTINCT FROM i.content_hash OR r.deleted_at IS NOT NULL) AS changed
         FROM raw_records r
         WHERE r.connection_id = i.connection_id AND r.platform = i.platform AND r.resource = i.resource
           AND r.external_id = i.external_id
         OFFSET 0) x
     )`;

/**
 * `inserted`: the records not stored yet. A page's external ids are unique (the caller
 * deduplicates), so no row is written twice.
 */
export const insertedCte = (): string => `inserted AS (
       INSERT INTO raw_records AS r
         (id, connection_id, platform, resource, external_id, payload, content_hash, occurred_at,
          first_seen_at, updated_at, last_seen_at)
       SELECT i.id, i.connection_id, i.platform, i.resource, i.external_id, i.payload, i.content_hash, i.occurred_at,
              now(), now(), now()
       FROM input i
       WHERE NOT EXISTS (SELECT 1 FROM existing e WHERE e.k = i.k AND e.external_id = i.external_id)
       RETURNING r.id, r.connection_id, r.platform, r.resource, r.external_id
     )`;

/** `updated`: the known records whose content changed, found by primary key from an array. */
export const updatedCte = (): string => `updated AS (
       UPDATE raw_records AS r
       SET payload = u.payload, content_hash = u.content_hash, occurred_at = u.occurred_at,
           updated_at = now(), last_seen_at = now(), deleted_at = NULL
       FROM (SELECT e.id, i.payload, i.content_hash, i.occurred_at
             FROM existing e JOIN input i ON i.k = e.k AND i.external_id = e.external_id
             WHERE e.changed) u
       WHERE r.id = u.id AND r.id = ANY (ARRAY(SELECT e.id FROM existing e WHERE e.changed))
       RETURNING r.id, r.connection_id, r.platform, r.resource, r.external_id
     )`;

/** `touched`: the unchanged records, only their `last_seen_at` moved. */
export const touchedCte = (): string => `touched AS (
       UPDATE raw_records AS r SET last_seen_at = now()
       WHERE r.id = ANY (ARRAY(SELECT e.id FROM existing e WHERE NOT e.changed))
       RETURNING r.id, r.connection_id, r.platform, r.resource, r.external_id
     )`;

/** `seen`: every record the batch wrote, with its page and whether it was inserted or changed. */
export const seenCte = (): string => `seen AS MATERIALIZED (
       SELECT p.k, x.id, x.external_id, x.inserted, x.changed
       FROM (SELECT id, connection_id, platform, resource, external_id, true AS inserted, true AS changed FROM inserted
             UNION ALL
             SELECT id, connection_id, platform, resource, external_id, false, true FROM updated
             UNION ALL
             SELECT id, connection_id, platform, resource, external_id, false, false FROM touched) x
       JOIN pages p ON p.connection_id = x.connection_id AND p.platform = x.platform AND p.resource = x.resource
     )`;

/** `seen_counts`: per page, the records added, updated and unchanged. */
export const seenCountsCte = (): string => `seen_counts AS (
       SELECT k, count(*) FILTER (WHERE inserted)::int AS added,
              count(*) FILTER (WHERE changed AND NOT inserted)::int AS updated,
              count(*) FILTER (WHERE NOT changed)::int AS unchanged
       FROM seen GROUP BY k
     )`;

/**
 * `gone`: on the last page of a full listing, the records not seen since the poll started, marked
 * deleted. The page's own records are excluded: they are not yet visible as seen in the
 * statement's snapshot.
 */
export const goneCte = (): string => `gone AS (
       UPDATE raw_records AS r SET deleted_at = now(), updated_at = now()
       WHERE r.id = ANY (ARRAY(
         SELECT x.id FROM pages p
         JOIN held h ON h.k = p.k
         CROSS JOIN LATERAL (
           SELECT r2.id, r2.external_id FROM raw_records r2
           WHERE r2.connection_id = p.connection_id AND r2.platform = p.platform AND r2.resource = p.resource
             AND r2.deleted_at IS NULL AND r2.last_seen_at < p.poll_started_at
           OFFSET 0) x
         WHERE p.final AND p.full_listing
           AND NOT EXISTS (SELECT 1 FROM input i WHERE i.k = p.k AND i.external_id = x.external_id)))
       RETURNING r.connection_id, r.platform, r.resource
     )`;

/** `gone_counts`: per page, the records marked deleted. */
export const goneCountsCte = (): string => `gone_counts AS (
       SELECT p.k, count(*)::int AS deleted
       FROM gone g JOIN pages p ON p.connection_id = g.connection_id AND p.platform = g.platform AND p.resource = g.resource
       GROUP BY p.k
     )`;
