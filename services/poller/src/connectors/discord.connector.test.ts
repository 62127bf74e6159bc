import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { discordConnector } from "./discord.connector.ts";
import { PlatformError } from "./errors.ts";
import { poll, rejection, resource, type SimulatorFixture, startSimulator } from "./test-support.ts";

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

  it("rejects a guild whose id is not a snowflake as malformed", async () => {
    const { ctx, http } = await fixture.connect(discordConnector);
    http.mutate = (_path, body) => {
      const list = body as Array<Record<string, unknown>>;
      if (list[7] !== undefined) list[7].id = "guild-7";
      return list;
    };
    const error = await rejection(guilds.fetchPage(ctx, { cursor: null, pageToken: null }));
    expect(error).toBeInstanceOf(PlatformError);
    expect(error).toMatchObject({ kind: "malformed" });
    expect((error as Error).message).toBe(
      'malformed Discord guilds page: [7] (id "guild-7").id: must be a snowflake',
    );
  });
});
