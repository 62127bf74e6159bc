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
import { decodeState, encodeState, parsePayload } from "./parse.ts";

const RECENTLY_PLAYED = "/v1/me/player/recently-played";
const TOP_TRACKS = "/v1/me/top/tracks";
const PAGE_SIZE = 50;

const track = z.object({ id: z.string().nullable(), name: z.string(), uri: z.string() });

const recentlyPlayedPage = z.object({
  items: z.array(
    z.object({
      track,
      played_at: z.iso.datetime({ offset: true }),
      context: z.object({ type: z.string(), uri: z.string() }).nullable().optional(),
    }),
  ),
  next: z.string().nullable(),
  cursors: z.object({ after: z.string().regex(/^\d+$/), before: z.string().regex(/^\d+$/) }).nullable(),
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
  const records: RawRecordInput[] = page.items.map((play) => {
    const at = new Date(play.played_at);
    // A play has no id of its own: the instant it was played identifies it.
    return { externalId: String(at.getTime()), payload: play, occurredAt: at };
  });

  const pageNewest = page.cursors?.after ?? null;
  const pageOldest = page.cursors?.before ?? null;
  if (forwards) {
    // Each forward page is newer than the last: its `after` cursor is the newest play so far.
    if (page.next !== null && pageNewest !== null) {
      return { records, nextPageToken: encodeState({ after: pageNewest }), fullListing: false };
    }
    return {
      records,
      nextPageToken: null,
      ...(pageNewest === null ? {} : { nextCursor: pageNewest }),
      fullListing: false,
    };
  }
  // Backwards (first sync): the newest play is on the first page.
  const newest = state !== null && "newest" in state ? state.newest : pageNewest;
  if (page.next !== null && pageOldest !== null) {
    return { records, nextPageToken: encodeState({ before: pageOldest, newest }), fullListing: false };
  }
  return {
    records,
    nextPageToken: null,
    ...(newest === null ? {} : { nextCursor: newest }),
    fullListing: false,
  };
}

const topTracksPage = z.object({
  items: z.array(track.extend({ id: z.string() })),
  offset: z.number().int().nonnegative(),
  next: z.string().nullable(),
  total: z.number().int().nonnegative(),
});

async function fetchTopTracks(ctx: PollContext, position: SyncPosition): Promise<Page> {
  const offset =
    position.pageToken !== null && /^\d+$/.test(position.pageToken) ? Number(position.pageToken) : 0;
  const { body } = await ctx.http.get(TOP_TRACKS, {
    query: { limit: PAGE_SIZE, offset, time_range: "medium_term" },
  });
  const page = parsePayload(topTracksPage, body, "Spotify top-tracks page");
  const records = page.items.map((item) => ({ externalId: item.id, payload: item }));
  const nextOffset = offset + page.items.length;
  const more = page.next !== null && page.items.length > 0 && nextOffset < page.total;
  return { records, nextPageToken: more ? String(nextOffset) : null, fullListing: true };
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
