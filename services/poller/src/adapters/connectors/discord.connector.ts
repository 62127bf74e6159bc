/**
 * Discord API v10. `guilds`: `GET /users/@me/guilds`, ascending by snowflake, paged with
 * `after=<largest id seen>`; a page shorter than the limit is the last. Listed in full every poll
 * so a guild the user left is marked deleted.
 */
import { z } from "zod";
import type { Connector, Page, PollContext, SyncPosition } from "./connector.ts";
import { parseItems, parsePayload } from "./parse.ts";

const GUILDS = "/api/v10/users/@me/guilds";
const LIMIT = 200;
const SNOWFLAKE = /^\d{1,20}$/;

/** What the connector needs of a guild: its id. The rest is stored as Discord sent it. */
const guild = z.object({ id: z.string().regex(SNOWFLAKE, "must be a snowflake") });

/** Snowflakes are 64-bit: compare them as integers, never as numbers or plain strings. */
function largest(ids: readonly string[]): string | null {
  let max: bigint | null = null;
  for (const id of ids) {
    const value = BigInt(id);
    if (max === null || value > max) max = value;
  }
  return max === null ? null : max.toString();
}

async function fetchGuilds(ctx: PollContext, position: SyncPosition): Promise<Page> {
  const after =
    position.pageToken !== null && SNOWFLAKE.test(position.pageToken) ? position.pageToken : undefined;
  const { body } = await ctx.http.get(GUILDS, { query: { limit: LIMIT, after } });
  const list = parsePayload(z.array(z.unknown()), body, "Discord guilds page");
  const { items, skipped } = parseItems(guild, list);
  // A full page (skipped guilds count too) means more may follow, after the largest id read.
  const last = list.length >= LIMIT ? largest(items.map((item) => item.id)) : null;
  return {
    records: items.map((item) => ({ externalId: item.id, payload: item })),
    skipped,
    nextPageToken: last,
    fullListing: true,
  };
}

export const discordConnector: Connector = {
  platform: "discord",
  provider: "discord",
  baseUrl: "https://discord.com",
  resources: [{ name: "guilds", requiredScopes: ["guilds"], fetchPage: fetchGuilds }],
};
