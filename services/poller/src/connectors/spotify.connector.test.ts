import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PlatformError } from "./errors.ts";
import { spotifyConnector } from "./spotify.connector.ts";
import { poll, rejection, resource, type SimulatorFixture, startSimulator } from "./test-support.ts";

const recentlyPlayed = resource(spotifyConnector, "recently-played");
const topTracks = resource(spotifyConnector, "top-tracks");

let fixture: SimulatorFixture;
beforeAll(async () => {
  // 120 top tracks = three pages of 50; plays are capped at Spotify's 50 anyway.
  fixture = await startSimulator({ dataItems: { min: 120, max: 120 } });
});
afterAll(() => fixture.close());

describe("spotify recently-played", () => {
  it("first sync reads the last 50 plays and keeps the newest play time as the cursor", async () => {
    const { ctx, http } = await fixture.connect(spotifyConnector);
    const result = await poll(recentlyPlayed, ctx, null);

    expect(result.records).toHaveLength(50);
    expect(http.requests[0]).toBe("/v1/me/player/recently-played?limit=50");
    const times = result.records.map((r) => Number(r.externalId));
    expect(result.cursor).toBe(String(Math.max(...times)));
    for (const record of result.records) {
      expect(record.occurredAt?.getTime()).toBe(Number(record.externalId));
      expect(record.payload).toMatchObject({ track: { type: "track" } });
    }
    expect(result.pages.every((page) => !page.fullListing)).toBe(true);
  });

  it("an incremental poll asks `after` the cursor and gets only the new plays", async () => {
    const connection = await fixture.connect(spotifyConnector);
    const first = await poll(recentlyPlayed, connection.ctx, null);
    const added = await connection.addData("recently-played", { count: 3 });

    const second = await poll(recentlyPlayed, connection.ctx, first.cursor);
    expect(connection.http.requests.at(-1)).toBe(
      `/v1/me/player/recently-played?limit=50&after=${first.cursor}`,
    );
    expect(second.records.map((r) => r.payload)).toEqual(expect.arrayContaining(added));
    expect(second.records).toHaveLength(3);
    expect(Number(second.cursor)).toBeGreaterThan(Number(first.cursor));

    const third = await poll(recentlyPlayed, connection.ctx, second.cursor);
    expect(third.records).toHaveLength(0);
    expect(third.cursor).toBe(second.cursor);
  });

  it("rejects a play without played_at as malformed, naming the item", async () => {
    const { ctx, http } = await fixture.connect(spotifyConnector);
    http.mutate = (_path, body) => {
      const page = body as { items: Array<Record<string, unknown>> };
      delete page.items[2]?.played_at;
      return page;
    };
    const error = await rejection(recentlyPlayed.fetchPage(ctx, { cursor: null, pageToken: null }));
    expect(error).toBeInstanceOf(PlatformError);
    expect(error).toMatchObject({ kind: "malformed" });
    expect((error as Error).message).toMatch(/Spotify recently-played page: items\[2\]\.played_at: /);
  });
});

describe("spotify top-tracks", () => {
  it("lists every page by offset as a full listing", async () => {
    const { ctx, http } = await fixture.connect(spotifyConnector);
    const result = await poll(topTracks, ctx, null);

    expect(result.pages).toHaveLength(3);
    expect(result.pages.every((page) => page.fullListing)).toBe(true);
    expect(result.records).toHaveLength(120);
    expect(new Set(result.records.map((r) => r.externalId)).size).toBe(120);
    expect(http.requests).toEqual([
      "/v1/me/top/tracks?limit=50&offset=0&time_range=medium_term",
      "/v1/me/top/tracks?limit=50&offset=50&time_range=medium_term",
      "/v1/me/top/tracks?limit=50&offset=100&time_range=medium_term",
    ]);
  });

  it("a later poll lists everything again, new favourites included", async () => {
    const connection = await fixture.connect(spotifyConnector);
    await poll(topTracks, connection.ctx, null);
    const [added] = await connection.addData("top-tracks", { count: 1 });

    const again = await poll(topTracks, connection.ctx, null);
    expect(again.records).toHaveLength(121);
    expect(again.records[0]?.payload).toEqual(added);
  });

  it("rejects a track without an id as malformed", async () => {
    const { ctx, http } = await fixture.connect(spotifyConnector);
    http.mutate = (_path, body) => ({ ...(body as object), items: [{ name: "x", uri: "spotify:track:x" }] });
    const error = await rejection(topTracks.fetchPage(ctx, { cursor: null, pageToken: null }));
    expect(error).toMatchObject({ kind: "malformed" });
    expect((error as Error).message).toMatch(/Spotify top-tracks page: items\[0\]\.id: /);
  });
});
