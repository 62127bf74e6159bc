import type { youtube_v3 } from "@googleapis/youtube";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  poll,
  rejection,
  resource,
  type SimulatorFixture,
  startSimulator,
} from "../../testing/connector-support.ts";
import { PlatformError } from "./errors.ts";
import { youtubeConnector } from "./youtube.connector.ts";

const likedVideos = resource(youtubeConnector, "liked-videos");

let fixture: SimulatorFixture;
beforeAll(async () => {
  fixture = await startSimulator({ dataItems: { min: 120, max: 120 } });
});
afterAll(() => fixture.close());

describe("youtube liked-videos", () => {
  it("lists every page through page tokens as a full listing", async () => {
    const { ctx, http } = await fixture.connect(youtubeConnector);
    const result = await poll(likedVideos, ctx, null);

    expect(result.pages.map((page) => page.records.length)).toEqual([50, 50, 20]);
    expect(result.pages.every((page) => page.fullListing)).toBe(true);
    expect(new Set(result.records.map((r) => r.externalId)).size).toBe(120);
    expect(result.records[0]?.payload).toMatchObject({
      kind: "youtube#video",
      snippet: {},
      contentDetails: {},
    });
    expect(http.requests[0]).toBe(
      "/youtube/v3/videos?myRating=like&part=snippet%2CcontentDetails&maxResults=50",
    );
    expect(http.requests[1]).toMatch(/&pageToken=[\w-]+$/);
    expect(result.cursor).toBeNull();
  });

  it("a later poll lists a new like too", async () => {
    const connection = await fixture.connect(youtubeConnector);
    await poll(likedVideos, connection.ctx, null);
    const [added] = (await connection.addData("liked-videos", {
      items: [{ title: "Brand new video" }],
    })) as Array<{
      id: string;
    }>;

    const again = await poll(likedVideos, connection.ctx, null);
    expect(again.records).toHaveLength(121);
    expect(again.records[0]?.externalId).toBe(added?.id);
  });

  it("skips a video without an id, and stores one without contentDetails.duration or snippet", async () => {
    const { ctx, http } = await fixture.connect(youtubeConnector);
    let ids: string[] = [];
    http.mutate = (_path, body) => {
      const page = body as youtube_v3.Schema$VideoListResponse;
      const items = page.items ?? [];
      ids = items.map((video) => video.id as string);
      // A live stream has no duration; every part of a video is optional in Google's types.
      items[0] = { ...items[0], contentDetails: { definition: "hd" } };
      items[1] = { ...items[1], snippet: undefined };
      items[2] = { ...items[2], id: null };
      return { ...page, kind: null, etag: null };
    };
    const page = await likedVideos.fetchPage(ctx, { cursor: null, pageToken: null });
    expect(page.records.map((r) => r.externalId)).toEqual([ids[0], ids[1], ...ids.slice(3)]);
    expect(page.skipped).toEqual([{ id: null, reason: "id: Invalid input: expected string, received null" }]);
  });

  it("reads a page without items, and refuses one whose items is not a list", async () => {
    const { ctx, http } = await fixture.connect(youtubeConnector);
    const empty: youtube_v3.Schema$VideoListResponse = { kind: "youtube#videoListResponse", pageInfo: {} };
    http.mutate = () => empty;
    const page = await likedVideos.fetchPage(ctx, { cursor: null, pageToken: null });
    expect(page).toEqual({ records: [], skipped: [], nextPageToken: null, fullListing: true });

    http.mutate = () => ({ kind: "youtube#videoListResponse", items: { id: "x" } });
    const error = await rejection(likedVideos.fetchPage(ctx, { cursor: null, pageToken: null }));
    expect(error).toBeInstanceOf(PlatformError);
    expect((error as Error).message).toMatch(/^malformed YouTube liked videos page: items: /);
  });
});
