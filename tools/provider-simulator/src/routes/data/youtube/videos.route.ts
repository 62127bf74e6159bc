import type { youtube_v3 } from "@googleapis/youtube";
import { renderVideo, youtubeEtag, youtubeLikes, youtubeParts } from "../../../data/youtube.ts";
import { dataRoute } from "../shared/endpoint.ts";
import { platformError } from "../shared/errors.ts";
import { decodeToken, encodeToken, intParam } from "../shared/paging.ts";

const SCOPE = "https://www.googleapis.com/auth/youtube";

/**
 * `GET /youtube/v3/videos?myRating=like&part=snippet&maxResults=&pageToken=` — the videos the
 * user liked, most recently liked first, paged by offset tokens shaped like YouTube's own
 * (`CAUQAA` = offset 5). A new like lands on page one and shifts the rest, as it does at YouTube.
 */
export const youtubeVideosRoute = dataRoute({
  platform: "youtube",
  resource: youtubeLikes.name,
  url: "/youtube/youtube/v3/videos",
  scopes: [`${SCOPE}.readonly`, SCOPE, `${SCOPE}.force-ssl`],
  handle({ query, state, account }) {
    const part = query.get("part");
    if (part === null || part.trim() === "") {
      return platformError("youtube", 400, { reason: "required", message: "Required parameter: part" });
    }
    const parts = new Set(part.split(",").map((p) => p.trim()));
    for (const p of parts) {
      if (!(youtubeParts as readonly string[]).includes(p)) {
        return platformError("youtube", 400, { reason: "unknownPart", message: `'${p}'` });
      }
    }
    const rating = query.get("myRating");
    if (rating === null) {
      return platformError("youtube", 400, {
        reason: "missingRequiredParameter",
        message: "No filter selected. Expected one of: myRating, id, chart",
      });
    }
    if (rating !== "like" && rating !== "dislike") {
      return platformError("youtube", 400, {
        reason: "invalidRating",
        message: "Invalid value for myRating.",
      });
    }
    const maxResults = intParam(query, { name: "maxResults", default: 5, min: 0, max: 50, clamp: false });
    if (maxResults === null) {
      return platformError("youtube", 400, {
        reason: "invalidValue",
        message: "Invalid value for maxResults. Expected an integer in [0, 50].",
      });
    }
    const token = query.get("pageToken");
    const decoded = token === null ? [0, 0] : decodeToken(token, 2);
    if (decoded === null) {
      return platformError("youtube", 400, {
        reason: "invalidPageToken",
        message: "The request specifies an invalid page token.",
      });
    }
    const offset = decoded[0] as number;

    // The simulated user only ever liked videos.
    const liked = rating === "like" ? state.data.dataset(account, youtubeLikes).newestFirst() : [];
    const page = liked.slice(offset, offset + maxResults);
    const body: youtube_v3.Schema$VideoListResponse = {
      kind: "youtube#videoListResponse",
      etag: youtubeEtag(account.key, rating, offset, maxResults, liked.length, page[0]?.id ?? ""),
    };
    if (maxResults > 0 && offset + maxResults < liked.length)
      body.nextPageToken = encodeToken([offset + maxResults, 0]);
    if (offset > 0) body.prevPageToken = encodeToken([Math.max(0, offset - maxResults), 1]);
    body.items = page.map((video) => renderVideo(video, parts));
    body.pageInfo = { totalResults: liked.length, resultsPerPage: maxResults };
    return { status: 200, body };
  },
});
