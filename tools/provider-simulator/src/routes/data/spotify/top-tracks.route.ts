import { spotifyTopTracks, trackPopularity } from "../../../data/spotify.ts";
import { dataRoute } from "../shared/endpoint.ts";
import { badRequest } from "../shared/errors.ts";
import { absoluteUrl, intParam, requestUrl } from "../shared/paging.ts";

const PATH = "/spotify/v1/me/top/tracks";
const TIME_RANGES = ["short_term", "medium_term", "long_term"] as const;

/**
 * `GET /v1/me/top/tracks?limit=&offset=&time_range=` — offset paging with `next`/`previous` and
 * `total`. Newly added favourites rank first in the short and medium term; `long_term` ranks the
 * same tracks by their all-time popularity.
 */
export const spotifyTopTracksRoute = dataRoute({
  platform: "spotify",
  resource: spotifyTopTracks.name,
  url: PATH,
  scopes: ["user-top-read"],
  handle({ request, query, state, account }) {
    const limit = intParam(query, { name: "limit", default: 20, min: 1, max: 50, clamp: false });
    if (limit === null) return badRequest("spotify", "Invalid limit");
    const offset = intParam(query, { name: "offset", default: 0, min: 0, max: 100_000, clamp: false });
    if (offset === null) return badRequest("spotify", "Invalid offset");
    const timeRange = query.get("time_range") ?? "medium_term";
    if (!(TIME_RANGES as readonly string[]).includes(timeRange)) {
      return badRequest("spotify", "Invalid time range");
    }

    const dataset = state.data.dataset(account, spotifyTopTracks);
    const ranked =
      timeRange === "long_term"
        ? dataset.view("long_term", (items) =>
            [...items].sort((a, b) => trackPopularity(b.track) - trackPopularity(a.track) || a.seq - b.seq),
          )
        : dataset.newestFirst();
    const page = ranked.slice(offset, offset + limit);
    const link = (at: number): string =>
      absoluteUrl(request, PATH, {
        limit,
        offset: at,
        time_range: query.get("time_range") === null ? undefined : timeRange,
      });
    return {
      status: 200,
      body: {
        href: requestUrl(request),
        items: page.map((track) => spotifyTopTracks.render(account, track)),
        limit,
        next: offset + limit < ranked.length ? link(offset + limit) : null,
        offset,
        previous: offset > 0 ? link(Math.max(0, offset - limit)) : null,
        total: ranked.length,
      },
    };
  },
});
