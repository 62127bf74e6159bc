import { createHash } from "node:crypto";
import { type Config, type ProviderId, providerEnvName, providerIds } from "../config.ts";

/**
 * The OAuth providers the token service refreshes tokens for, as their own documentation describes
 * their token endpoints. Pure data plus `resolveProviders`, which merges it with the configuration.
 */

/** RFC 6749 §2.3.1 client authentication (names as in RFC 8414 metadata). */
export type ClientAuthMethod = "client_secret_basic" | "client_secret_post";

export type ProviderSpec = {
  id: ProviderId;
  displayName: string;
  /** The real token endpoint (PROVIDER_<ID>_TOKEN_URL overrides it, e.g. with the simulator). */
  tokenUrl: string;
  /** How the provider documents sending the client credentials on a refresh. */
  clientAuth: ClientAuthMethod;
  /** A refresh returns a new refresh token and spends the old one. */
  rotatesRefreshToken: boolean;
  /** Access-token lifetime (s) assumed when a response omits `expires_in`; null = tokens never expire. */
  accessTokenLifetimeSec: number | null;
  /** How long an unused refresh token lives (s), when the provider says; null = until revoked. */
  refreshTokenLifetimeSec: number | null;
  /** Refresh requests per second across all replicas unless PROVIDER_<ID>_RATE_LIMIT_PER_SEC says otherwise. */
  defaultRateLimitPerSec: number;
  /** Scopes Syncwell asks for (documentation; the connection row holds what was granted). */
  scopes: readonly string[];
  /** How the provider joins scopes in its `scope` response field. */
  scopeSeparator: " " | ",";
};

/**
 * Rate-limit defaults are deliberately conservative: providers publish no separate quota for their
 * token endpoints, and going over one degrades every user of that provider at once. Raise them per
 * deployment with PROVIDER_<ID>_RATE_LIMIT_PER_SEC.
 */
export const providerSpecs: Readonly<Record<ProviderId, ProviderSpec>> = {
  // developers.google.com/identity/protocols/oauth2/web-server#offline: client_id and client_secret
  // in the POST body; refresh tokens do not rotate; access tokens last an hour.
  google: {
    id: "google",
    displayName: "Google",
    tokenUrl: "https://oauth2.googleapis.com/token",
    clientAuth: "client_secret_post",
    rotatesRefreshToken: false,
    accessTokenLifetimeSec: 3599,
    refreshTokenLifetimeSec: null,
    defaultRateLimitPerSec: 100,
    scopes: [
      "https://www.googleapis.com/auth/gmail.readonly",
      "https://www.googleapis.com/auth/calendar.readonly",
      "https://www.googleapis.com/auth/youtube.readonly",
    ],
    scopeSeparator: " ",
  },
  // developer.spotify.com/documentation/web-api/tutorials/refreshing-tokens: Basic authorization;
  // "a new refresh token might be returned too" (treat as rotating).
  spotify: {
    id: "spotify",
    displayName: "Spotify",
    tokenUrl: "https://accounts.spotify.com/api/token",
    clientAuth: "client_secret_basic",
    rotatesRefreshToken: true,
    accessTokenLifetimeSec: 3600,
    refreshTokenLifetimeSec: null,
    defaultRateLimitPerSec: 20,
    scopes: ["user-read-email", "user-read-recently-played", "user-top-read"],
    scopeSeparator: " ",
  },
  // GitHub OAuth apps (token expiration not opted in): access tokens never expire and come without a
  // refresh token, so these connections are never due. The endpoint takes credentials in the body.
  github: {
    id: "github",
    displayName: "GitHub",
    tokenUrl: "https://github.com/login/oauth/access_token",
    clientAuth: "client_secret_post",
    rotatesRefreshToken: false,
    accessTokenLifetimeSec: null,
    refreshTokenLifetimeSec: null,
    defaultRateLimitPerSec: 10,
    scopes: ["repo", "read:user", "user:email"],
    scopeSeparator: ",",
  },
  // docs.github.com/apps/creating-github-apps/authenticating-with-a-github-app/refreshing-user-access-tokens:
  // user tokens last 8 h, refresh tokens 6 months and rotate on every use; credentials in the body.
  "github-app": {
    id: "github-app",
    displayName: "GitHub App",
    tokenUrl: "https://github.com/login/oauth/access_token",
    clientAuth: "client_secret_post",
    rotatesRefreshToken: true,
    accessTokenLifetimeSec: 28_800,
    refreshTokenLifetimeSec: 15_897_600,
    defaultRateLimitPerSec: 10,
    scopes: [],
    scopeSeparator: ",",
  },
  // discord.com/developers/docs/topics/oauth2: HTTP Basic with client id and secret; every refresh
  // rotates the refresh token; access tokens last 7 days.
  discord: {
    id: "discord",
    displayName: "Discord",
    tokenUrl: "https://discord.com/api/oauth2/token",
    clientAuth: "client_secret_basic",
    rotatesRefreshToken: true,
    accessTokenLifetimeSec: 604_800,
    refreshTokenLifetimeSec: null,
    defaultRateLimitPerSec: 10,
    scopes: ["identify", "email", "guilds"],
    scopeSeparator: " ",
  },
  // learn.microsoft.com/linkedin/shared/authentication/programmatic-refresh-tokens: client_id and
  // client_secret as form fields; 60-day access tokens, 1-year refresh tokens that do not rotate.
  linkedin: {
    id: "linkedin",
    displayName: "LinkedIn",
    tokenUrl: "https://www.linkedin.com/oauth/v2/accessToken",
    clientAuth: "client_secret_post",
    rotatesRefreshToken: false,
    accessTokenLifetimeSec: 5_184_000,
    refreshTokenLifetimeSec: 31_536_000,
    defaultRateLimitPerSec: 10,
    scopes: ["openid", "profile", "email"],
    scopeSeparator: ",",
  },
  // api.slack.com/authentication/rotation: oauth.v2.access with grant_type=refresh_token; Slack
  // recommends HTTP Basic for the client credentials; 12 h tokens, rotating refresh tokens.
  slack: {
    id: "slack",
    displayName: "Slack",
    tokenUrl: "https://slack.com/api/oauth.v2.access",
    clientAuth: "client_secret_basic",
    rotatesRefreshToken: true,
    accessTokenLifetimeSec: 43_200,
    refreshTokenLifetimeSec: null,
    defaultRateLimitPerSec: 20,
    scopes: ["channels:history", "channels:read", "users:read"],
    scopeSeparator: ",",
  },
};

/** A provider as this deployment runs it: the spec merged with its configuration. */
export type ProviderRuntime = {
  spec: ProviderSpec;
  id: ProviderId;
  /** False when no client id (or secret) is configured: its connections are skipped. */
  enabled: boolean;
  /** Why it is disabled (names the variable, never a value). */
  disabledReason: string | null;
  clientId: string | null;
  clientSecret: string | null;
  tokenUrl: string;
  /** True when the token URL was overridden (the simulator, locally). */
  tokenUrlOverridden: boolean;
  rateLimitPerSec: number;
  /** Refreshes in flight per replica. */
  concurrency: number;
  /**
   * sha256 of client id + secret + token URL: what an operator hold is keyed by, so a restart with
   * corrected configuration is no longer held. Never logged with the inputs.
   */
  configFingerprint: string;
};

export type ProviderConfig = Pick<Config, "REFRESH_CONCURRENCY"> & Record<string, unknown>;

function optionalString(value: unknown): string | null {
  return typeof value === "string" && value.length > 0 ? value : null;
}

function optionalNumber(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

export function configFingerprint(
  clientId: string | null,
  clientSecret: string | null,
  tokenUrl: string,
): string {
  return createHash("sha256")
    .update(`${clientId ?? ""}\u0000${clientSecret ?? ""}\u0000${tokenUrl}`)
    .digest("hex");
}

/** Every known provider, resolved against the configuration (disabled ones included). */
export function resolveProviders(config: ProviderConfig): Map<ProviderId, ProviderRuntime> {
  const out = new Map<ProviderId, ProviderRuntime>();
  for (const id of providerIds) {
    const spec = providerSpecs[id];
    const prefix = `PROVIDER_${providerEnvName(id)}`;
    const clientId = optionalString(config[`${prefix}_CLIENT_ID`]);
    const clientSecret = optionalString(config[`${prefix}_CLIENT_SECRET`]);
    const override = optionalString(config[`${prefix}_TOKEN_URL`]);
    const tokenUrl = override ?? spec.tokenUrl;
    const disabledReason =
      clientId === null
        ? `${prefix}_CLIENT_ID is not set`
        : clientSecret === null
          ? `${prefix}_CLIENT_SECRET is not set`
          : null;
    out.set(id, {
      spec,
      id,
      enabled: disabledReason === null,
      disabledReason,
      clientId,
      clientSecret,
      tokenUrl,
      tokenUrlOverridden: override !== null,
      rateLimitPerSec: optionalNumber(config[`${prefix}_RATE_LIMIT_PER_SEC`]) ?? spec.defaultRateLimitPerSec,
      concurrency: optionalNumber(config[`${prefix}_CONCURRENCY`]) ?? config.REFRESH_CONCURRENCY,
      configFingerprint: configFingerprint(clientId, clientSecret, tokenUrl),
    });
  }
  return out;
}

/** Splits a `scope` response field (space- or comma-separated, whatever the provider uses). */
export function parseScopes(scope: string): string[] {
  return [...new Set(scope.split(/[\s,]+/).filter(Boolean))];
}
