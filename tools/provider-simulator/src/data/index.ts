import { calendarEvents } from "./calendar.ts";
import type { AnyResourceSpec } from "./dataset.ts";
import { discordGuilds } from "./discord.ts";
import { githubEvents, githubRepos } from "./github.ts";
import { gmailMessages } from "./gmail.ts";
import { spotifyRecentlyPlayed, spotifyTopTracks } from "./spotify.ts";
import { youtubeLikes } from "./youtube.ts";

/** Every generated resource, by `<platform>.<resource>` name. */
export const resourceSpecs: ReadonlyMap<string, AnyResourceSpec> = new Map(
  [
    spotifyRecentlyPlayed,
    spotifyTopTracks,
    youtubeLikes,
    githubRepos,
    githubEvents,
    discordGuilds,
    gmailMessages,
    calendarEvents,
  ].map((spec) => [spec.name, spec as unknown as AnyResourceSpec]),
);

export const resourceNames = [...resourceSpecs.keys()];
