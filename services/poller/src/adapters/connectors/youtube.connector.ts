/**
 * YouTube Data API v3. `liked-videos`: `videos.list?myRating=like`, listed in full every poll
 * through page tokens (YouTube has no change feed for ratings), so an unliked video is marked
 * deleted. The like time is not in the API, so records carry no `occurredAt`.
 */
import { z } from "zod";
import type { Connector, Page, PollContext, SyncPosition } from "./connector.ts";
import { parseItems, parsePayload } from "./parse.ts";

const VIDEOS = "/youtube/v3/videos";

/** A page: its items are checked one by one (parseItems), its page token here. */
const videoListPage = z.object({
  nextPageToken: z.string().min(1).nullable().optional(),
  items: z.array(z.unknown()).nullable().optional(),
});

/**
 * What the connector needs of a video: its id. Google's types make every part optional (a video
 * without `contentDetails.duration` is a live stream, or a part not asked for): stored as sent.
 */
const video = z.object({ id: z.string().min(1) });

async function fetchLikedVideos(ctx: PollContext, position: SyncPosition): Promise<Page> {
  const { body } = await ctx.http.get(VIDEOS, {
    query: {
      myRating: "like",
      part: "snippet,contentDetails",
      maxResults: 50,
      pageToken: position.pageToken ?? undefined,
    },
  });
  const page = parsePayload(videoListPage, body, "YouTube liked videos page");
  const { items, skipped } = parseItems(video, page.items ?? []);
  return {
    records: items.map((item) => ({ externalId: item.id, payload: item })),
    skipped,
    nextPageToken: page.nextPageToken ?? null,
    fullListing: true,
  };
}

export const youtubeConnector: Connector = {
  platform: "youtube",
  provider: "google",
  baseUrl: "https://www.googleapis.com",
  resources: [
    {
      name: "liked-videos",
      requiredScopes: [
        "https://www.googleapis.com/auth/youtube.readonly",
        "https://www.googleapis.com/auth/youtube",
        "https://www.googleapis.com/auth/youtube.force-ssl",
      ],
      fetchPage: fetchLikedVideos,
    },
  ],
};
