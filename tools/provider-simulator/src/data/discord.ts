import type { GuildFeature, RESTAPIPartialCurrentUserGuild } from "discord-api-types/v10";
import { z } from "zod";
import type { DataItem, ResourceSpec } from "./dataset.ts";
import { DAY, HEX, HOUR, type Rng, timeline } from "./seed.ts";
import { ADJECTIVES, NOUNS } from "./words.ts";

/** Discord's epoch (2015-01-01T00:00:00Z): snowflakes count milliseconds from it. */
const DISCORD_EPOCH = 1_420_070_400_000n;

/** A snowflake for an instant: time in the top 42 bits, then worker, process and increment. */
export function snowflake(ms: number, rng: Rng): string {
  const worker = BigInt(rng.int(32));
  const process = BigInt(rng.int(32));
  const increment = BigInt(rng.int(4096));
  return (((BigInt(ms) - DISCORD_EPOCH) << 22n) | (worker << 17n) | (process << 12n) | increment).toString();
}

/** Snowflakes are 64-bit integers in strings: compare by length, then lexically. */
export function compareSnowflakes(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

export function isSnowflake(value: string): boolean {
  return /^\d{1,20}$/.test(value);
}

const FEATURE_SETS: GuildFeature[][] = [
  [],
  ["COMMUNITY" as GuildFeature, "NEWS" as GuildFeature],
  ["COMMUNITY" as GuildFeature, "DISCOVERABLE" as GuildFeature, "WELCOME_SCREEN_ENABLED" as GuildFeature],
  ["INVITE_SPLASH" as GuildFeature, "ANIMATED_ICON" as GuildFeature, "BANNER" as GuildFeature],
];

/** A guild the user is in; `id` is the guild's snowflake (its creation time), `time` when the user joined. */
export type DiscordGuild = DataItem & {
  name: string;
  owner: boolean;
  icon: string | null;
  permissions: string;
  features: number;
  members: number;
};

const guildInput = z.strictObject({
  /** The guild's snowflake: pass an old one to join an existing guild (it sorts before newer ones). */
  id: z
    .string()
    .regex(/^\d{1,20}$/, "must be a snowflake")
    .optional(),
  name: z.string().min(2).max(100).optional(),
  owner: z.boolean().optional(),
});

function makeGuild(
  rng: Rng,
  id: string,
  time: number,
  name?: string,
  owner?: boolean,
): Omit<DiscordGuild, "seq"> {
  const isOwner = owner ?? rng.chance(0.1);
  return {
    id,
    time,
    name:
      name ??
      `${cap(rng.pick(ADJECTIVES))} ${cap(rng.pick(NOUNS))} ${rng.pick(["Club", "Guild", "Hangout", "HQ", "Community"])}`,
    owner: isOwner,
    icon: rng.chance(0.8) ? rng.string(HEX, 32) : null,
    // Owners hold every permission; members the usual default set.
    permissions: isOwner ? "2251799813685247" : rng.pick(["104324673", "1071698660929", "2147483647"]),
    features: rng.int(FEATURE_SETS.length),
    members: rng.between(3, 250_000),
  };
}

function cap(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

/** A guild of `GET /users/@me/guilds`, typed with discord-api-types (types only) so tsc holds it to them. */
export function renderGuild(guild: DiscordGuild, withCounts: boolean): RESTAPIPartialCurrentUserGuild {
  const out: RESTAPIPartialCurrentUserGuild = {
    id: guild.id,
    name: guild.name,
    icon: guild.icon,
    banner: null,
    owner: guild.owner,
    permissions: guild.permissions,
    features: [...(FEATURE_SETS[guild.features] ?? [])],
  };
  if (withCounts) {
    out.approximate_member_count = guild.members;
    out.approximate_presence_count = Math.floor(guild.members / 7);
  }
  return out;
}

export const discordGuilds: ResourceSpec<DiscordGuild, z.output<typeof guildInput>> = {
  name: "discord.guilds",
  platform: "discord",
  input: guildInput,
  expirable: false,
  seed({ rng, epoch }, count) {
    const joined = timeline(rng, count, epoch - HOUR, 6 * HOUR, 40 * DAY);
    const oldest = Date.parse("2016-01-01T00:00:00Z");
    return joined.map((time) =>
      makeGuild(rng, snowflake(oldest + rng.int(Math.max(1, time - oldest)), rng), time),
    );
  },
  create({ rng }, input, at) {
    // A guild created just now has the largest snowflake yet, so `after=<last seen id>` finds it.
    return makeGuild(rng, input.id ?? snowflake(at, rng), at, input.name, input.owner);
  },
  render(_account, guild) {
    return renderGuild(guild, false);
  },
};
