import type { Queryable } from "@syncwell/db";
import { episodeKey } from "../domain/batch.ts";
import type { Episode } from "../domain/episode.ts";
import type { NotificationKind } from "../domain/notifications.ts";

/**
 * The notifier's state per subject (`notification_episodes`), read and written a batch of
 * subjects at a time inside the transaction that applies their events.
 */

/** A subject of one user: the row's key. */
export type EpisodeKey = { userId: string; subjectKey: string };

type EpisodeRow = {
  userId: string;
  subjectKey: string;
  number: number;
  openedAt: Date | null;
  closedAt: Date | null;
  level: number;
  openKinds: string[] | null;
  lastNotifiedAt: Record<string, number>;
};

function episodeOf(row: EpisodeRow): Episode {
  return {
    number: row.number,
    openedAt: row.openedAt?.getTime() ?? null,
    closedAt: row.closedAt?.getTime() ?? null,
    level: row.level,
    open: (row.openKinds ?? []) as NotificationKind[],
    lastNotifiedAt: row.lastNotifiedAt as Episode["lastNotifiedAt"],
  };
}

function sortedKeys(keys: readonly EpisodeKey[]): EpisodeKey[] {
  const unique = new Map(keys.map((k) => [episodeKey(k.userId, k.subjectKey), k]));
  return [...unique.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, k]) => k);
}

/**
 * Locks the subjects' rows (FOR UPDATE) for the rest of the transaction and returns their
 * episodes by `episodeKey`, creating a row before the first (`noEpisode`'s values). Rows are created and locked in
 * key order, so batches sharing subjects wait for each other instead of deadlocking. A subject of
 * a user who does not exist (deleted since the event) gets no row and is absent from the result:
 * there is no one to tell.
 *
 * Each key is looked up by itself (`OFFSET 0` keeps the lookups from being planned as a join):
 * planned from statistics, a batch of a few hundred keys was hash-joined with every row of the
 * table, which grows with the users.
 */
export async function lockEpisodes(
  db: Queryable,
  keys: readonly EpisodeKey[],
): Promise<Map<string, Episode>> {
  const sorted = sortedKeys(keys);
  if (sorted.length === 0) return new Map();
  const users = sorted.map((k) => k.userId);
  const subjects = sorted.map((k) => k.subjectKey);
  await db.query(
    `INSERT INTO notification_episodes (user_id, subject_key)
     SELECT k.user_id, k.subject_key
     FROM unnest($1::uuid[], $2::text[]) WITH ORDINALITY AS k(user_id, subject_key, n)
     WHERE EXISTS (SELECT 1 FROM users u WHERE u.id = k.user_id OFFSET 0)
     ORDER BY k.n
     ON CONFLICT DO NOTHING`,
    [users, subjects],
  );
  const { rows } = await db.query<EpisodeRow>(
    `SELECT e.user_id::text AS "userId", e.subject_key AS "subjectKey", e.number, e.opened_at AS "openedAt",
            e.closed_at AS "closedAt", e.level, e.open_kinds AS "openKinds", e.last_notified_at AS "lastNotifiedAt"
     FROM unnest($1::uuid[], $2::text[]) WITH ORDINALITY AS k(user_id, subject_key, n)
     CROSS JOIN LATERAL (
       SELECT * FROM notification_episodes x
       WHERE x.user_id = k.user_id AND x.subject_key = k.subject_key OFFSET 0
     ) e
     ORDER BY k.n
     FOR UPDATE OF e`,
    [users, subjects],
  );
  return new Map(rows.map((row) => [episodeKey(row.userId, row.subjectKey), episodeOf(row)]));
}

/**
 * Stores the subjects' next episodes (rows locked by lockEpisodes in this transaction, so none
 * moves before it is written): each row is found by its key, then updated where it is (its ctid),
 * the lookups kept from being planned as a join as in lockEpisodes.
 */
export async function storeEpisodes(
  db: Queryable,
  episodes: readonly (EpisodeKey & { episode: Episode })[],
): Promise<void> {
  if (episodes.length === 0) return;
  const at = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  await db.query(
    `UPDATE notification_episodes e
     SET number = s.number, opened_at = s.opened_at, closed_at = s.closed_at, level = s.level,
         open_kinds = ARRAY(SELECT jsonb_array_elements_text(s.open_kinds)),
         last_notified_at = s.last_notified_at, updated_at = CURRENT_TIMESTAMP
     FROM unnest($1::uuid[], $2::text[], $3::int[], $4::timestamptz[], $5::timestamptz[], $6::smallint[],
                 $7::jsonb[], $8::jsonb[])
          AS s(user_id, subject_key, number, opened_at, closed_at, level, open_kinds, last_notified_at)
     CROSS JOIN LATERAL (
       SELECT x.ctid AS row_id FROM notification_episodes x
       WHERE x.user_id = s.user_id AND x.subject_key = s.subject_key OFFSET 0
     ) found
     WHERE e.ctid = found.row_id`,
    [
      episodes.map((e) => e.userId),
      episodes.map((e) => e.subjectKey),
      episodes.map((e) => e.episode.number),
      episodes.map((e) => at(e.episode.openedAt)),
      episodes.map((e) => at(e.episode.closedAt)),
      episodes.map((e) => e.episode.level),
      episodes.map((e) => JSON.stringify(e.episode.open)),
      episodes.map((e) => JSON.stringify(e.episode.lastNotifiedAt)),
    ],
  );
}
