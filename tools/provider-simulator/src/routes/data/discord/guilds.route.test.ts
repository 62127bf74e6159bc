import { describe, expect, it } from "vitest";
import { apiGet, startSimulator } from "../../../test-support.ts";

type Guild = {
  id: string;
  name: string;
  owner: boolean;
  permissions: string;
  approximate_member_count?: number;
};

describe("GET /api/v10/users/@me/guilds", () => {
  it("pages by snowflake with `after` until a short page, and finds newly joined guilds after the last id", async () => {
    const sim = await startSimulator({ dataItems: { min: 27, max: 27 } });
    const grant = await sim.control.createGrant({ provider: "discord", connectionKey: "dc-1" });
    const url = `${sim.control.apiUrl("discord")}/api/v10/users/@me/guilds?limit=10`;
    const all: Guild[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await apiGet<Guild[]>(
        after === undefined ? url : `${url}&after=${after}`,
        grant.accessToken,
      );
      expect(page.status).toBe(200);
      all.push(...page.json);
      if (page.json.length < 10) break;
      after = page.json[page.json.length - 1]?.id;
    }
    expect(all).toHaveLength(27);
    const ids = all.map((g) => BigInt(g.id));
    expect([...ids].sort((a, b) => (a < b ? -1 : 1))).toEqual(ids);
    const last = all[all.length - 1]?.id;

    const added = await sim.control.addData("discord", "guilds", {
      connectionKey: "dc-1",
      count: 2,
      items: [{ name: "Syncwell Testers", owner: true }],
    });
    const fresh = await apiGet<Guild[]>(`${url}&after=${last}&with_counts=true`, grant.accessToken);
    expect(fresh.json.map((g) => g.id).sort()).toEqual((added.items as Guild[]).map((g) => g.id).sort());
    expect(fresh.json.find((g) => g.name === "Syncwell Testers")).toMatchObject({ owner: true });
    expect(fresh.json[0]?.approximate_member_count).toEqual(expect.any(Number));

    const before = await apiGet<Guild[]>(
      `${sim.control.apiUrl("discord")}/api/v10/users/@me/guilds?before=${all[5]?.id}&limit=3`,
      grant.accessToken,
    );
    expect(before.json.map((g) => g.id)).toEqual(all.slice(2, 5).map((g) => g.id));
  });

  it("answers Discord's 401 and 400 bodies", async () => {
    const sim = await startSimulator();
    const grant = await sim.control.createGrant({ provider: "discord", connectionKey: "dc-2" });
    const url = `${sim.control.apiUrl("discord")}/api/v10/users/@me/guilds`;
    expect(await apiGet(url, "nope")).toMatchObject({
      status: 401,
      json: { message: "401: Unauthorized", code: 0 },
    });
    expect(await apiGet(`${url}?limit=201`, grant.accessToken)).toMatchObject({
      status: 400,
      json: { code: 50035 },
    });
    const noGuildsScope = await sim.control.createGrant({ provider: "discord", scopes: ["identify"] });
    expect(await apiGet(url, noGuildsScope.accessToken)).toMatchObject({
      status: 403,
      json: { code: 50001 },
    });
  });
});
