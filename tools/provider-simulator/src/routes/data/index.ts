import type { RouteRegistration } from "../index.ts";
import { calendarEventsRoute } from "./calendar/events.route.ts";
import { discordGuildsRoute } from "./discord/guilds.route.ts";
import { githubEventsRoute } from "./github/events.route.ts";
import { githubReposRoute } from "./github/repos.route.ts";
import { githubUserRoute } from "./github/user.route.ts";
import { gmailBatchRoute } from "./gmail/batch.route.ts";
import { gmailHistoryRoute } from "./gmail/history.route.ts";
import { gmailMessagesGetRoute } from "./gmail/messages-get.route.ts";
import { gmailMessagesListRoute } from "./gmail/messages-list.route.ts";
import { gmailProfileRoute } from "./gmail/profile.route.ts";
import { spotifyRecentlyPlayedRoute } from "./spotify/recently-played.route.ts";
import { spotifyTopTracksRoute } from "./spotify/top-tracks.route.ts";
import { youtubeVideosRoute } from "./youtube/videos.route.ts";

/** The platforms' data APIs, one file per endpoint, under `/<platform>/<the real path>`. */
export const dataRoutes: readonly RouteRegistration[] = [
  spotifyRecentlyPlayedRoute,
  spotifyTopTracksRoute,
  youtubeVideosRoute,
  githubUserRoute,
  githubReposRoute,
  githubEventsRoute,
  discordGuildsRoute,
  gmailMessagesListRoute,
  gmailMessagesGetRoute,
  gmailHistoryRoute,
  gmailProfileRoute,
  gmailBatchRoute,
  calendarEventsRoute,
];
