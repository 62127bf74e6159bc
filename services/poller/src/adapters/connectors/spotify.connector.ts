/**
 * Spotify Web API. Paths are absolute from the API origin (`/v1/...`), like every connector's.
 *
 * - `recently-played`: the play history, incremental by time. Spotify keeps only the last 50
 *   plays; `after=<ms>` returns the plays after the cursor, and the newest page's
 *   `cursors.after` (its newest play time) is the next cursor. Plays never disappear on their
 *   own terms, so this is never a full listing.
 * - `top-tracks`: the user's current top tracks, offset paging, listed in full every poll so a
 *   track that dropped out is marked deleted.
 */
import { z } from "zod";
import type { Connector, Page, PollContext, RawRecordInput, SyncPosition } from "./connector.ts";
import { decodeState, encodeState, parseItems, parsePayload } from "./parse.ts";

const RECENTLY_PLAYED = "/v1/me/player/recently-played";
const TOP_TRACKS = "/v1/me/top/tracks";
const PAGE_SIZE = 50;

/**
 * What the connector needs of a play: when, and which track (its URI, which local files have too
 * where their `id` is null). Everything else is stored as Spotify sent it.
 */
const play = z.object({
  played_at: z.iso.datetime({ offset: true }),
  track: z.object({ uri: z.string().min(1) }),
});

/** A page: its items are checked one by one (parseItems), its paging here. */
const recentlyPlayedPage = z.object({
  items: z.array(z.unknown()),
  next: z.string().nullable().optional(),
  cursors: z
    .object({ after: z.string().regex(/^\d+$/), before: z.string().regex(/^\d+$/) })
    .nullable()
    .optional(),
});

/**
 * Where a recently-played poll continues: forwards after a time (an incremental poll with more
 * than one page of new plays), or backwards before a time (a first sync that needs several
 * pages), then remembering the newest play seen on the first page, which becomes the cursor.
 */
const playsState = z.union([
  z.object({ after: z.string().regex(/^\d+$/) }),
  z.object({ before: z.string().regex(/^\d+$/), newest: z.string().regex(/^\d+$/).nullable() }),
]);

async function fetchRecentlyPlayed(ctx: PollContext, position: SyncPosition): Promise<Page> {
  const state = decodeState(playsState, position.pageToken);
  const query: Record<string, string | number> = { limit: PAGE_SIZE };
  if (state !== null && "before" in state) query.before = state.before;
  else if (state !== null) query.after = state.after;
  else if (position.cursor !== null) query.after = position.cursor;
  const forwards = query.before === undefined && query.after !== undefined;

  const { body } = await ctx.http.get(RECENTLY_PLAYED, { query });
  const page = parsePayload(recentlyPlayedPage, body, "Spotify recently-played page");
  const { items, skipped } = parseItems(play, page.items, playId);
  const records: RawRecordInput[] = items.map((item) => {
    const at = new Date(item.played_at);
    return { externalId: playId(item) as string, payload: item, occurredAt: at };
  });

  const hasNext = typeof page.next === "string";
  const pageNewest = page.cursors?.after ?? null;
  const pageOldest = page.cursors?.before ?? null;
  if (forwards) {
    // Each forward page is newer than the last: its `after` cursor is the newest play so far.
    if (hasNext && pageNewest !== null) {
      return { records, skipped, nextPageToken: encodeState({ after: pageNewest }), fullListing: false };
    }
    const cursor = pageNewest === null ? {} : { nextCursor: pageNewest };
    return { records, skipped, nextPageToken: null, ...cursor, fullListing: false };
  }
  // Backwards (first sync): the newest play is on the first page.
  const newest = state !== null && "newest" in state ? state.newest : pageNewest;
  if (hasNext && pageOldest !== null) {
    const nextPageToken = encodeState({ before: pageOldest, newest });
    return { records, skipped, nextPageToken, fullListing: false };
  }
  const cursor = newest === null ? {} : { nextCursor: newest };
  return { records, skipped, nextPageToken: null, ...cursor, fullListing: false };
}

/**
 * A play has no id of its own: the instant it was played and the track's URI identify it (two
 * plays can share a millisecond). Null when either is missing, for the skip's log line.
 */
function playId(item: unknown): string | null {
  if (typeof item !== "object" || item === null) return null;
  const { played_at: playedAt, track } = item as { played_at?: unknown; track?: { uri?: unknown } | null };
  const at = typeof playedAt === "string" ? Date.parse(playedAt) : Number.NaN;
  const uri = track?.uri;
  return Number.isNaN(at) || typeof uri !== "string" || uri === "" ? null : `${at}:${uri}`;
}

/** A top track needs its id (a local file has none, and cannot be a top track of ours). */
const topTrack = z.object({ id: z.string().min(1) });

const topTracksPage = z.object({
  items: z.array(z.unknown()),
  next: z.string().nullable().optional(),
  total: z.number().int().nonnegative().optional(),
});

async function fetchTopTracks(ctx: PollContext, position: SyncPosition): Promise<Page> {
  const offset =
    position.pageToken !== null && /^\d+$/.test(position.pageToken) ? Number(position.pageToken) : 0;
  const { body } = await ctx.http.get(TOP_TRACKS, {
    query: { limit: PAGE_SIZE, offset, time_range: "medium_term" },
  });
  const page = parsePayload(topTracksPage, body, "Spotify top-tracks page");
  const { items, skipped } = parseItems(topTrack, page.items);
  const records = items.map((item) => ({ externalId: item.id, payload: item }));
  // The offset counts every item Spotify listed, skipped ones included.
  const nextOffset = offset + page.items.length;
  const more =
    typeof page.next === "string" &&
    page.items.length > 0 &&
    (page.total === undefined || nextOffset < page.total);
  return { records, skipped, nextPageToken: more ? String(nextOffset) : null, fullListing: true };
}

export const spotifyConnector: Connector = {
  platform: "spotify",
  provider: "spotify",
  baseUrl: "https://api.spotify.com",
  resources: [
    {
      name: "recently-played",
      requiredScopes: ["user-read-recently-played"],
      fetchPage: fetchRecentlyPlayed,
    },
    { name: "top-tracks", requiredScopes: ["user-top-read"], fetchPage: fetchTopTracks },
  ],
};
