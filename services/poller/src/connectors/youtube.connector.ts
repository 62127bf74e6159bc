/**
 * YouTube Data API v3. `liked-videos`: `videos.list?myRating=like`, listed in full every poll
 * through page tokens (YouTube has no change feed for ratings), so an unliked video is marked
 * deleted. The like time is not in the API, so records carry no `occurredAt`.
 */
import { z } from "zod";
import type { Connector, Page, PollContext, SyncPosition } from "./connector.ts";
import { parsePayload } from "./parse.ts";

const VIDEOS = "/youtube/v3/videos";

const videoListPage = z.object({
  kind: z.literal("youtube#videoListResponse"),
  nextPageToken: z.string().min(1).optional(),
  items: z.array(
    z.object({
      kind: z.literal("youtube#video"),
      id: z.string().min(1),
      snippet: z.object({ title: z.string(), channelId: z.string(), publishedAt: z.string() }),
      contentDetails: z.object({ duration: z.string() }),
    }),
  ),
});

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
  return {
    records: page.items.map((video) => ({ externalId: video.id, payload: video })),
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
