import {
  RECENTLY_PLAYED_WINDOW,
  type SentPlay,
  type SentRecentlyPlayedPage,
  spotifyRecentlyPlayed,
} from "../../../data/spotify.ts";
import { dataRoute } from "../shared/endpoint.ts";
import { badRequest } from "../shared/errors.ts";
import { absoluteUrl, intParam, requestUrl } from "../shared/paging.ts";

const PATH = "/spotify/v1/me/player/recently-played";

/**
 * `GET /v1/me/player/recently-played?limit=&after=&before=` — the last 50 plays, newest first,
 * cursor-paged by play time (Unix ms): `before` walks back, `after` resumes from the newest play a
 * client has seen. `cursors` are the page's newest (`after`) and oldest (`before`) times; `next`
 * continues in the same direction and is null when nothing is left.
 */
export const spotifyRecentlyPlayedRoute = dataRoute({
  platform: "spotify",
  resource: spotifyRecentlyPlayed.name,
  url: PATH,
  scopes: ["user-read-recently-played"],
  handle({ request, query, state, account }) {
    const limit = intParam(query, { name: "limit", default: 20, min: 1, max: 50, clamp: false });
    if (limit === null) return badRequest("spotify", "Invalid limit");
    const after = query.get("after");
    const before = query.get("before");
    if (after !== null && before !== null) {
      return badRequest("spotify", "Only one of 'after' and 'before' may be specified.");
    }
    const cursor = after ?? before;
    if (cursor !== null && !/^\d{1,16}$/.test(cursor)) return badRequest("spotify", "Invalid cursor");

    const window = state.data
      .dataset(account, spotifyRecentlyPlayed)
      .newestFirst()
      .slice(0, RECENTLY_PLAYED_WINDOW);
    let page: typeof window;
    let more: boolean;
    if (after !== null) {
      // The plays right after the cursor (oldest of the newer ones), shown newest first.
      const newer = window.filter((play) => play.time > Number(after));
      page = newer.slice(Math.max(0, newer.length - limit));
      more = newer.length > limit;
    } else {
      const older = before === null ? window : window.filter((play) => play.time < Number(before));
      page = older.slice(0, limit);
      more = older.length > limit;
    }
    const newest = page[0]?.time;
    const oldest = page[page.length - 1]?.time;
    const next =
      !more || newest === undefined || oldest === undefined
        ? null
        : absoluteUrl(request, PATH, after !== null ? { after: newest, limit } : { before: oldest, limit });
    const body: SentRecentlyPlayedPage = {
      items: page.map((play) => spotifyRecentlyPlayed.render(account, play) as SentPlay),
      next,
      cursors: newest === undefined ? null : { after: String(newest), before: String(oldest) },
      limit,
      // Spotify counts the plays it holds for the user, not the page's.
      total: window.length,
      href: requestUrl(request),
    };
    return { status: 200, body };
  },
});
