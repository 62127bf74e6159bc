import type { Page, PlayHistory, RecentlyPlayedTracksPage, Track } from "@spotify/web-api-ts-sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { poll, resource, type SimulatorFixture, startSimulator } from "../../testing/connector-support.ts";
import { spotifyConnector } from "./spotify.connector.ts";

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
    const times = result.records.map((r) => r.occurredAt?.getTime() ?? 0);
    expect(result.cursor).toBe(String(Math.max(...times)));
    for (const record of result.records) {
      const play = record.payload as PlayHistory;
      expect(record.externalId).toBe(`${Date.parse(play.played_at)}:${play.track.uri}`);
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

  it("skips a play without played_at and stores the rest of the page", async () => {
    const { ctx, http } = await fixture.connect(spotifyConnector);
    http.mutate = (_path, body) => {
      const page = body as { items: Array<Record<string, unknown>> };
      delete page.items[2]?.played_at;
      return page;
    };
    const page = await recentlyPlayed.fetchPage(ctx, { cursor: null, pageToken: null });
    expect(page.records).toHaveLength(49);
    expect(page.skipped).toEqual([
      { id: null, reason: "played_at: Invalid input: expected string, received undefined" },
    ]);
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

  it("skips a track without an id (a local file) and goes on by the offset Spotify listed", async () => {
    const { ctx, http } = await fixture.connect(spotifyConnector);
    http.mutate = (_path, body) => {
      const page = body as Page<Track>;
      // Spotify's SDK types declare `id: string`, but the Web API sends null for a local file.
      const local = { ...page.items[0], id: null, is_local: true } as unknown as Track;
      return { ...page, items: [local, ...page.items.slice(1)] };
    };
    const page = await topTracks.fetchPage(ctx, { cursor: null, pageToken: null });
    expect(page.records).toHaveLength(49);
    expect(page.skipped).toEqual([{ id: null, reason: "id: Invalid input: expected string, received null" }]);
    expect(page.nextPageToken).toBe("50");
  });
});

describe("spotify: values Spotify's description allows", () => {
  const play = (at: string, uri: string): PlayHistory =>
    ({
      played_at: at,
      track: { uri, id: uri.split(":").at(-1), name: "Song", type: "track" },
      context: null,
    }) as unknown as PlayHistory; // The SDK types a whole Track and a non-null context; stored as sent.

  it("tells apart two plays of the same millisecond", async () => {
    const { ctx, http } = await fixture.connect(spotifyConnector);
    const page: RecentlyPlayedTracksPage = {
      href: "https://api.spotify.com/v1/me/player/recently-played",
      limit: 50,
      next: null,
      cursors: { after: "1893456000000", before: "1893456000000" },
      total: 2,
      items: [
        play("2030-01-01T00:00:00.000Z", "spotify:track:aaa"),
        play("2030-01-01T00:00:00.000Z", "spotify:track:bbb"),
      ],
    };
    http.mutate = () => page;
    const result = await recentlyPlayed.fetchPage(ctx, { cursor: null, pageToken: null });
    expect(result.records.map((r) => r.externalId)).toEqual([
      "1893456000000:spotify:track:aaa",
      "1893456000000:spotify:track:bbb",
    ]);
    expect(result.nextCursor).toBe("1893456000000");
  });

  it("reads an empty page with null cursors and without total", async () => {
    const { ctx, http } = await fixture.connect(spotifyConnector);
    // What Spotify sends when there is nothing after the cursor; its SDK types cursors as never null.
    http.mutate = () => ({ href: "x", limit: 50, next: null, cursors: null, items: [] });
    const result = await recentlyPlayed.fetchPage(ctx, { cursor: "1893456000000", pageToken: null });
    expect(result).toEqual({ records: [], skipped: [], nextPageToken: null, fullListing: false });
  });
});
