/**
 * Every platform the poller syncs. A connector's `baseUrl` is the API's origin and its paths are
 * the documented paths from the host root (`/gmail/v1/users/me/messages`), joined as `baseUrl +
 * path`. The provider simulator serves each platform under `/<platform>`, so pointing one at it is
 * `PLATFORM_<PLATFORM>_API_URL=http://<simulator>/<platform>` (read by the engine's config).
 */
import { calendarConnector } from "./calendar.connector.ts";
import type { Connector } from "./connector.ts";
import { discordConnector } from "./discord.connector.ts";
import { githubConnector } from "./github.connector.ts";
import { gmailConnector } from "./gmail.connector.ts";
import { spotifyConnector } from "./spotify.connector.ts";
import { youtubeConnector } from "./youtube.connector.ts";

export type * from "./connector.ts";
export * from "./errors.ts";

export const connectors: readonly Connector[] = [
  gmailConnector,
  calendarConnector,
  youtubeConnector,
  spotifyConnector,
  githubConnector,
  discordConnector,
];

const byPlatform = new Map(connectors.map((connector) => [connector.platform, connector]));

/** The connector of a platform key (`gmail`, `calendar`, …), or undefined for one we do not sync. */
export function connectorFor(platform: string): Connector | undefined {
  return byPlatform.get(platform);
}

/** The platforms synced with a provider's access token (`google` → gmail, calendar, youtube). */
export function connectorsForProvider(provider: string): Connector[] {
  return connectors.filter((connector) => connector.provider === provider);
}
