/**
 * Discord API v10. `guilds`: `GET /users/@me/guilds`, ascending by snowflake, paged with
 * `after=<largest id seen>`; a page shorter than the limit is the last. Listed in full every poll
 * so a guild the user left is marked deleted.
 */
import { z } from "zod";
import type { Connector, Page, PollContext, SyncPosition } from "./connector.ts";
import { parsePayload } from "./parse.ts";

const GUILDS = "/api/v10/users/@me/guilds";
const LIMIT = 200;
const SNOWFLAKE = /^\d{1,20}$/;

const guildsBody = z.array(
  z.object({
    id: z.string().regex(SNOWFLAKE, "must be a snowflake"),
    name: z.string(),
    owner: z.boolean(),
    permissions: z.string(),
  }),
);

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
  const guilds = parsePayload(guildsBody, body, "Discord guilds page");
  const last = guilds.length >= LIMIT ? largest(guilds.map((guild) => guild.id)) : null;
  return {
    records: guilds.map((guild) => ({ externalId: guild.id, payload: guild })),
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
