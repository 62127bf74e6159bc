import { describe, expect, it } from "vitest";
import { type ApiResponse, apiGet, refresh, startSimulator } from "../../../test-support.ts";

type Play = { track: { id: string; name: string; type: string }; played_at: string; context: unknown };
type RecentlyPlayed = {
  items: Play[];
  next: string | null;
  cursors: { after: string; before: string } | null;
  limit: number;
  href: string;
};
type TopTracks = {
  items: Array<{ id: string }>;
  next: string | null;
  previous: string | null;
  offset: number;
  total: number;
};

describe("Spotify data endpoints", () => {
  it("pages recently-played back with `before` to the end, newest first", async () => {
    const sim = await startSimulator({ dataItems: { min: 30, max: 30 } });
    const grant = await sim.control.createGrant({ provider: "spotify", connectionKey: "sp-1" });
    const first = await apiGet<RecentlyPlayed>(
      `${sim.control.apiUrl("spotify")}/v1/me/player/recently-played?limit=7`,
      grant.accessToken,
    );
    expect(first.status).toBe(200);
    expect(first.json.items).toHaveLength(7);
    expect(first.json.items[0]?.track).toMatchObject({ type: "track", id: expect.any(String) });
    const times = first.json.items.map((p) => Date.parse(p.played_at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect(first.json.cursors).toEqual({ after: String(times[0]), before: String(times[6]) });
    expect(first.json.next).toContain(`before=${times[6]}`);

    const all = [...first.json.items];
    let next = first.json.next;
    while (next !== null) {
      const page = await apiGet<RecentlyPlayed>(next, grant.accessToken);
      expect(page.status).toBe(200);
      all.push(...page.json.items);
      next = page.json.next;
    }
    expect(all).toHaveLength(30);
    expect(new Set(all.map((p) => p.played_at)).size).toBe(30);
  });

  it("returns exactly the newly added plays after the `after` cursor", async () => {
    const sim = await startSimulator();
    const grant = await sim.control.createGrant({ provider: "spotify", connectionKey: "sp-2" });
    const url = `${sim.control.apiUrl("spotify")}/v1/me/player/recently-played`;
    const first = await apiGet<RecentlyPlayed>(`${url}?limit=50`, grant.accessToken);
    const cursor = first.json.cursors?.after;
    expect(cursor).toEqual(expect.any(String));

    const none = await apiGet<RecentlyPlayed>(`${url}?after=${cursor}`, grant.accessToken);
    expect(none.json).toMatchObject({ items: [], next: null, cursors: null });

    const added = await sim.control.addData("spotify", "recently-played", {
      connectionKey: "sp-2",
      count: 5,
    });
    expect(added.items).toHaveLength(5);
    const page = await apiGet<RecentlyPlayed>(`${url}?after=${cursor}&limit=3`, grant.accessToken);
    expect(page.json.items).toHaveLength(3);
    expect(page.json.next).toContain("after=");
    const rest = await apiGet<RecentlyPlayed>(String(page.json.next), grant.accessToken);
    expect(rest.json.items).toHaveLength(2);
    expect(rest.json.next).toBeNull();
    const seen = [...page.json.items, ...rest.json.items].map((p) => p.played_at).sort();
    expect(seen).toEqual((added.items as Play[]).map((p) => p.played_at).sort());
    for (const played of seen) expect(Date.parse(played)).toBeGreaterThan(Number(cursor));
  });

  it("pages top tracks by offset with next/previous and total", async () => {
    const sim = await startSimulator({ dataItems: { min: 25, max: 25 } });
    const grant = await sim.control.createGrant({ provider: "spotify", connectionKey: "sp-3" });
    const ids: string[] = [];
    let next: string | null =
      `${sim.control.apiUrl("spotify")}/v1/me/top/tracks?limit=10&time_range=short_term`;
    let pages = 0;
    while (next !== null) {
      const page: ApiResponse<TopTracks> = await apiGet<TopTracks>(next, grant.accessToken);
      expect(page.status).toBe(200);
      expect(page.json.total).toBe(25);
      if (pages > 0) expect(page.json.previous).toContain("time_range=short_term");
      ids.push(...page.json.items.map((t) => t.id));
      next = page.json.next;
      pages += 1;
    }
    expect(pages).toBe(3);
    expect(new Set(ids).size).toBe(25);

    const added = await sim.control.addData("spotify", "top-tracks", { connectionKey: "sp-3" });
    const top = await apiGet<TopTracks>(
      `${sim.control.apiUrl("spotify")}/v1/me/top/tracks?limit=1`,
      grant.accessToken,
    );
    expect(top.json.total).toBe(26);
    expect(top.json.items[0]?.id).toBe((added.items[0] as { id: string }).id);

    const bad = await apiGet(`${sim.control.apiUrl("spotify")}/v1/me/top/tracks?limit=51`, grant.accessToken);
    expect(bad.status).toBe(400);
    expect(bad.json).toEqual({ error: { status: 400, message: "Invalid limit" } });
  });

  it("answers 401 in Spotify's shape for expired, unknown and missing tokens, and 403 without the scope", async () => {
    let now = Date.parse("2030-01-01T00:00:00Z");
    const sim = await startSimulator({ now: () => now });
    const grant = await sim.control.createGrant({
      provider: "spotify",
      connectionKey: "sp-4",
      expiresIn: 60,
    });
    const url = `${sim.control.apiUrl("spotify")}/v1/me/player/recently-played`;
    expect((await apiGet(url, grant.accessToken)).status).toBe(200);
    now += 61_000;
    expect(await apiGet(url, grant.accessToken)).toMatchObject({
      status: 401,
      json: { error: { status: 401, message: "The access token expired" } },
    });
    expect((await apiGet(url, "BQnope")).json).toEqual({
      error: { status: 401, message: "Invalid access token" },
    });
    expect((await apiGet(url, null)).json).toEqual({ error: { status: 401, message: "No token provided" } });

    // A refreshed token works again, on the same account's data.
    const refreshed = await refresh(sim, "spotify", grant.refreshToken);
    expect((await apiGet(url, String(refreshed.json?.access_token))).status).toBe(200);

    const narrow = await sim.control.createGrant({ provider: "spotify", scopes: ["user-top-read"] });
    expect((await apiGet(url, narrow.accessToken)).status).toBe(403);
  });
});
