import { compareSnowflakes, discordGuilds, isSnowflake, renderGuild } from "../../../data/discord.ts";
import { dataRoute } from "../shared/endpoint.ts";
import { badRequest } from "../shared/errors.ts";
import { intParam } from "../shared/paging.ts";

/**
 * `GET /api/v10/users/@me/guilds?limit=&after=&before=&with_counts=` — the user's guilds in
 * ascending snowflake order, paged by id: `after=<last id seen>` gives the next page (and, later,
 * guilds created since). No `next` link or header: a short page is the last one.
 */
export const discordGuildsRoute = dataRoute({
  platform: "discord",
  resource: discordGuilds.name,
  url: "/discord/api/v10/users/@me/guilds",
  scopes: ["guilds"],
  handle({ query, state, account }) {
    const limit = intParam(query, { name: "limit", default: 200, min: 1, max: 200, clamp: false });
    if (limit === null) return badRequest("discord", "Invalid Form Body");
    const after = query.get("after");
    const before = query.get("before");
    if ((after !== null && !isSnowflake(after)) || (before !== null && !isSnowflake(before))) {
      return badRequest("discord", "Invalid Form Body");
    }
    const withCounts = query.get("with_counts") === "true";
    const sorted = state.data
      .dataset(account, discordGuilds)
      .view("by-id", (items) => [...items].sort((a, b) => compareSnowflakes(a.id, b.id)));
    let selected = sorted.filter(
      (guild) =>
        (after === null || compareSnowflakes(guild.id, after) > 0) &&
        (before === null || compareSnowflakes(guild.id, before) < 0),
    );
    // With only `before`, Discord returns the guilds right before it.
    selected = before !== null && after === null ? selected.slice(-limit) : selected.slice(0, limit);
    return { status: 200, body: selected.map((guild) => renderGuild(guild, withCounts)) };
  },
});
