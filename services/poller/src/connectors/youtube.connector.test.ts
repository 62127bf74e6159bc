import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PlatformError } from "./errors.ts";
import { poll, rejection, resource, type SimulatorFixture, startSimulator } from "./test-support.ts";
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

  it("rejects a video without a snippet as malformed, naming the video", async () => {
    const { ctx, http } = await fixture.connect(youtubeConnector);
    let id = "";
    http.mutate = (_path, body) => {
      const page = body as { items: Array<Record<string, unknown>> };
      id = String(page.items[1]?.id);
      delete page.items[1]?.snippet;
      return page;
    };
    const error = await rejection(likedVideos.fetchPage(ctx, { cursor: null, pageToken: null }));
    expect(error).toBeInstanceOf(PlatformError);
    expect(error).toMatchObject({ kind: "malformed" });
    expect((error as Error).message).toContain(`YouTube liked videos page: items[1] (id "${id}").snippet: `);
  });

  it("rejects a response that is not a video list", async () => {
    const { ctx, http } = await fixture.connect(youtubeConnector);
    http.mutate = () => ({ kind: "youtube#searchListResponse", items: [] });
    const error = await rejection(likedVideos.fetchPage(ctx, { cursor: null, pageToken: null }));
    expect((error as Error).message).toMatch(/^malformed YouTube liked videos page: kind: /);
  });
});
