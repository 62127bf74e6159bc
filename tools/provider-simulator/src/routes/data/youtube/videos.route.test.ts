import { describe, expect, it } from "vitest";
import { apiGet, startSimulator } from "../../../test-support.ts";

type VideoList = {
  kind: string;
  nextPageToken?: string;
  prevPageToken?: string;
  pageInfo: { totalResults: number; resultsPerPage: number };
  items: Array<{
    kind: string;
    id: string;
    snippet?: { title: string; channelId: string };
    statistics?: unknown;
  }>;
};

describe("GET /youtube/v3/videos?myRating=like", () => {
  it("pages liked videos with nextPageToken to the end, with pageInfo", async () => {
    const sim = await startSimulator({ dataItems: { min: 23, max: 23 } });
    const grant = await sim.control.createGrant({ provider: "google", connectionKey: "yt-1" });
    const base = `${sim.control.apiUrl("youtube")}/youtube/v3/videos?myRating=like&part=snippet&maxResults=10`;
    const first = await apiGet<VideoList>(base, grant.accessToken);
    expect(first.status).toBe(200);
    expect(first.json).toMatchObject({
      kind: "youtube#videoListResponse",
      nextPageToken: "CAoQAA",
      pageInfo: { totalResults: 23, resultsPerPage: 10 },
    });
    expect(first.json.prevPageToken).toBeUndefined();
    expect(first.json.items[0]).toMatchObject({
      kind: "youtube#video",
      snippet: { title: expect.any(String) },
    });
    expect(first.json.items[0]?.statistics).toBeUndefined();

    const ids = first.json.items.map((v) => v.id);
    let token = first.json.nextPageToken;
    while (token !== undefined) {
      const page = await apiGet<VideoList>(`${base}&pageToken=${token}`, grant.accessToken);
      expect(page.json.prevPageToken).toEqual(expect.any(String));
      ids.push(...page.json.items.map((v) => v.id));
      token = page.json.nextPageToken;
    }
    expect(ids).toHaveLength(23);
    expect(new Set(ids).size).toBe(23);
  });

  it("puts new likes first, so paging from the top until a known id finds exactly them", async () => {
    const sim = await startSimulator({ dataItems: { min: 30, max: 30 } });
    const grant = await sim.control.createGrant({ provider: "google", connectionKey: "yt-2" });
    const base = `${sim.control.apiUrl("youtube")}/youtube/v3/videos?myRating=like&part=id,snippet,contentDetails,statistics&maxResults=5`;
    const before = await apiGet<VideoList>(base, grant.accessToken);
    const known = before.json.items[0]?.id;
    const added = await sim.control.addData("youtube", "liked-videos", {
      connectionKey: "yt-2",
      count: 6,
      items: [{ title: "A brand new upload" }],
    });
    expect(added.total).toBe(37);

    const fresh: string[] = [];
    let token: string | undefined;
    outer: do {
      const page = await apiGet<VideoList>(
        token === undefined ? base : `${base}&pageToken=${token}`,
        grant.accessToken,
      );
      for (const video of page.json.items) {
        if (video.id === known) break outer;
        fresh.push(video.id);
      }
      token = page.json.nextPageToken;
    } while (token !== undefined);
    expect(fresh.sort()).toEqual((added.items as Array<{ id: string }>).map((v) => v.id).sort());
    const titled = (added.items as Array<{ snippet: { title: string } }>)[0];
    expect(titled?.snippet.title).toBe("A brand new upload");
  });

  it("rejects a missing part and bad page tokens, and unknown tokens with Google's 401", async () => {
    const sim = await startSimulator();
    const grant = await sim.control.createGrant({ provider: "google", connectionKey: "yt-3" });
    const url = `${sim.control.apiUrl("youtube")}/youtube/v3/videos`;
    const missing = await apiGet<{ error: { code: number; errors: Array<{ reason: string }> } }>(
      `${url}?myRating=like`,
      grant.accessToken,
    );
    expect(missing.status).toBe(400);
    expect(missing.json.error.errors[0]?.reason).toBe("required");
    expect((await apiGet(`${url}?myRating=like&part=snippet&pageToken=zz!`, grant.accessToken)).status).toBe(
      400,
    );
    const unknown = await apiGet(`${url}?myRating=like&part=snippet`, "ya29.unknown");
    expect(unknown.status).toBe(401);
    expect(unknown.json).toMatchObject({ error: { code: 401, status: "UNAUTHENTICATED" } });
    // A Spotify token is not a Google token.
    const spotify = await sim.control.createGrant({ provider: "spotify" });
    expect((await apiGet(`${url}?myRating=like&part=snippet`, spotify.accessToken)).status).toBe(401);
  });
});
