import type { RESTGetAPICurrentUserGuildsResult } from "discord-api-types/v10";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { poll, resource, type SimulatorFixture, startSimulator } from "../../testing/connector-support.ts";
import { discordConnector } from "./discord.connector.ts";

const guilds = resource(discordConnector, "guilds");

let fixture: SimulatorFixture;
beforeAll(async () => {
  // 450 guilds: pages of 200, 200 and 50.
  fixture = await startSimulator({ dataItems: { min: 450, max: 450 } });
});
afterAll(() => fixture.close());

describe("discord guilds", () => {
  it("pages with after=<largest snowflake> until a short page, as a full listing", async () => {
    const { ctx, http } = await fixture.connect(discordConnector);
    const result = await poll(guilds, ctx, null);

    expect(result.pages.map((page) => page.records.length)).toEqual([200, 200, 50]);
    expect(result.pages.every((page) => page.fullListing)).toBe(true);
    expect(new Set(result.records.map((r) => r.externalId)).size).toBe(450);
    // Snowflakes are 64-bit: sorted as BigInts, not as numbers.
    const firstPage = (result.pages[0]?.records ?? [])
      .map((r) => BigInt(r.externalId))
      .sort((a, b) => Number(a - b));
    const largest = firstPage.at(-1);
    expect(http.requests).toEqual([
      "/api/v10/users/@me/guilds?limit=200",
      `/api/v10/users/@me/guilds?limit=200&after=${largest}`,
      expect.stringMatching(/^\/api\/v10\/users\/@me\/guilds\?limit=200&after=\d+$/),
    ]);
    expect(result.cursor).toBeNull();
  });

  it("a later poll lists a newly joined guild too", async () => {
    const connection = await fixture.connect(discordConnector);
    await poll(guilds, connection.ctx, null);
    const [added] = (await connection.addData("guilds", { items: [{ name: "Brand New Guild" }] })) as Array<{
      id: string;
    }>;
    const again = await poll(guilds, connection.ctx, null);
    expect(again.records).toHaveLength(451);
    expect(again.records.at(-1)?.externalId).toBe(added?.id);
  });

  it("skips a guild whose id is not a snowflake and stores the others", async () => {
    const { ctx, http } = await fixture.connect(discordConnector);
    http.mutate = (_path, body) => {
      const list = body as Array<Record<string, unknown>>;
      if (list[7] !== undefined) list[7].id = "guild-7";
      return list;
    };
    const page = await guilds.fetchPage(ctx, { cursor: null, pageToken: null });
    expect(page.records).toHaveLength(199);
    expect(page.skipped).toEqual([{ id: "guild-7", reason: "id: must be a snowflake" }]);
    // A full page of 200, skipped guild included: more may follow.
    expect(page.nextPageToken).toMatch(/^\d+$/);
  });

  it("stores guilds as discord-api-types describes them, with nulls and fields it does not know", async () => {
    const { ctx, http } = await fixture.connect(discordConnector);
    const official: RESTGetAPICurrentUserGuildsResult = [
      {
        id: "1130000000000000001",
        name: "Book club",
        icon: null,
        banner: null,
        owner: false,
        permissions: "104324673",
        features: [],
        approximate_member_count: 12,
        approximate_presence_count: 3,
      },
    ];
    http.mutate = () => [...official, { ...official[0], id: "1130000000000000002", new_field: { a: 1 } }];
    const page = await guilds.fetchPage(ctx, { cursor: null, pageToken: null });
    expect(page.records.map((r) => r.externalId)).toEqual(["1130000000000000001", "1130000000000000002"]);
    expect(page.records[0]?.payload).toEqual(official[0]);
    expect(page.nextPageToken).toBeNull();
  });
});
