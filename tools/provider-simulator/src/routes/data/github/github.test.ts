import { describe, expect, it } from "vitest";
import { apiGet, startSimulator } from "../../../test-support.ts";

type Repo = { id: number; full_name: string; private: boolean; owner: { login: string } };
type Event = {
  id: string;
  type: string;
  actor: { login: string };
  repo: { name: string };
  created_at: string;
};

/** The `rel="next"` target of a Link header. */
function nextLink(link: string | null): string | null {
  return /<([^>]+)>;\s*rel="next"/.exec(link ?? "")?.[1] ?? null;
}

describe("GitHub data endpoints", () => {
  it("pages /user/repos through the Link header to the last page", async () => {
    const sim = await startSimulator({ dataItems: { min: 45, max: 45 } });
    const grant = await sim.control.createGrant({ provider: "github", connectionKey: "gh-1" });
    const first = await apiGet<Repo[]>(
      `${sim.control.apiUrl("github")}/user/repos?per_page=20`,
      grant.accessToken,
    );
    expect(first.status).toBe(200);
    expect(first.json).toHaveLength(20);
    expect(first.headers.get("link")).toContain('page=3>; rel="last"');
    expect(first.headers.get("etag")).toMatch(/^W\/"[0-9a-f]{32}"$/);
    const names = first.json.map((r) => r.full_name.toLowerCase());
    expect([...names].sort()).toEqual(names);

    const all = [...first.json];
    let next = nextLink(first.headers.get("link"));
    while (next !== null) {
      const page = await apiGet<Repo[]>(next, grant.accessToken);
      all.push(...page.json);
      next = nextLink(page.headers.get("link"));
    }
    expect(all).toHaveLength(45);
    expect(new Set(all.map((r) => r.id)).size).toBe(45);

    // Without the repo scope an OAuth token sees public repositories only.
    const publicOnly = await sim.control.createGrant({
      provider: "github",
      connectionKey: "gh-1",
      scopes: ["read:user"],
    });
    const visible = await apiGet<Repo[]>(
      `${sim.control.apiUrl("github")}/user/repos?per_page=100`,
      publicOnly.accessToken,
    );
    expect(visible.json.length).toBe(all.filter((r) => !r.private).length);
  });

  it("serves the user's events by login with ETag: 304 until new events, then 200 with them", async () => {
    const sim = await startSimulator({ dataItems: { min: 40, max: 40 } });
    const grant = await sim.control.createGrant({ provider: "github", connectionKey: "gh-2" });
    const user = await apiGet<{ login: string; id: number }>(
      `${sim.control.apiUrl("github")}/user`,
      grant.accessToken,
    );
    expect(user.json.login).toMatch(/^[a-z]+\d*$/);
    const url = `${sim.control.apiUrl("github")}/users/${user.json.login.toUpperCase()}/events?per_page=30`;

    const first = await apiGet<Event[]>(url, grant.accessToken);
    expect(first.status).toBe(200);
    expect(first.json).toHaveLength(30);
    expect(first.headers.get("x-poll-interval")).toBe("60");
    expect(first.json[0]?.actor.login).toBe(user.json.login);
    const ids = first.json.map((e) => BigInt(e.id));
    expect([...ids].sort((a, b) => (a > b ? -1 : 1))).toEqual(ids);
    const etag = String(first.headers.get("etag"));

    await sim.control.setRateLimit({ provider: "github", scope: "data", requestsPerSecond: 0.001, burst: 1 });
    for (let i = 0; i < 3; i += 1) {
      const cached = await apiGet(url, grant.accessToken, { "if-none-match": etag });
      expect(cached.status).toBe(304);
      expect(cached.text).toBe("");
      expect(cached.headers.get("etag")).toBe(etag);
    }
    await sim.control.setRateLimit({ provider: "github", scope: "data", requestsPerSecond: null });

    const added = await sim.control.addData("github", "events", {
      connectionKey: "gh-2",
      count: 2,
      items: [{ type: "WatchEvent", repo: "octo/hello" }],
    });
    const changed = await apiGet<Event[]>(url, grant.accessToken, { "if-none-match": etag });
    expect(changed.status).toBe(200);
    expect(changed.headers.get("etag")).not.toBe(etag);
    const newIds = new Set((added.items as Event[]).map((e) => e.id));
    expect(changed.json.slice(0, 3).every((e) => newIds.has(e.id))).toBe(true);
    expect(changed.json.find((e) => e.type === "WatchEvent" && e.repo.name === "octo/hello")).toBeDefined();

    const log = await sim.control.requests({ resource: "github.events" });
    expect(log.map((r) => r.status)).toEqual([200, 304, 304, 304, 200]);
    expect(
      (await apiGet(`${sim.control.apiUrl("github")}/users/someone-else/events`, grant.accessToken)).status,
    ).toBe(404);
  });

  it("answers an ETag-matching /user/repos with 304 until a repository is added", async () => {
    const sim = await startSimulator();
    const grant = await sim.control.createGrant({ provider: "github-app", connectionKey: "gh-3" });
    const url = `${sim.control.apiUrl("github")}/user/repos?sort=created`;
    const first = await apiGet<Repo[]>(url, grant.accessToken);
    const etag = String(first.headers.get("etag"));
    expect((await apiGet(url, grant.accessToken, { "if-none-match": etag })).status).toBe(304);
    await sim.control.addData("github", "repos", { connectionKey: "gh-3", items: [{ name: "brand-new" }] });
    const after = await apiGet<Repo[]>(url, grant.accessToken, { "if-none-match": etag });
    expect(after.status).toBe(200);
    expect(after.json[0]?.full_name).toMatch(/\/brand-new$/);
  });

  it("answers 401 Bad credentials for unknown and expired tokens", async () => {
    let now = Date.parse("2030-01-01T00:00:00Z");
    const sim = await startSimulator({ now: () => now });
    const grant = await sim.control.createGrant({ provider: "github", expiresIn: 10 });
    const url = `${sim.control.apiUrl("github")}/user`;
    expect((await apiGet(url, grant.accessToken)).status).toBe(200);
    now += 11_000;
    for (const token of [grant.accessToken, "ghu_unknown"]) {
      const res = await apiGet(url, token);
      expect(res.status).toBe(401);
      expect(res.json).toMatchObject({ message: "Bad credentials", status: "401" });
    }
    expect((await apiGet(url, null)).json).toMatchObject({ message: "Requires authentication" });
  });
});
