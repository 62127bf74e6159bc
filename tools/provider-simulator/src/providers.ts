/**
 * The per-provider table: what each simulated platform's token endpoint accepts and answers.
 * Values follow the real platforms' documentation where it is explicit; where a platform deviates
 * from RFC 6749 in ways a client must special-case (GitHub and Slack answer errors with HTTP 200),
 * the simulator stays RFC-shaped so one client can talk to all of them — see README.
 */
import type { ProviderId } from "@syncwell/contracts";

/** The simulator plays every provider Syncwell knows (the `providers` table below must list each). */
export { isProviderId, type ProviderId, providerIds } from "@syncwell/contracts";

/** RFC 6749 §2.3.1 client authentication methods (names as in RFC 8414 metadata). */
export type ClientAuthMethod = "client_secret_basic" | "client_secret_post";

export type ProviderSpec = {
  id: ProviderId;
  /** Client authentication methods the real token endpoint accepts. */
  authMethods: readonly ClientAuthMethod[];
  /** Whether a refresh rotates the refresh token by default (new token issued, old one spent). */
  rotatesByDefault: boolean;
  /** Access-token lifetime (seconds) the real provider reports in `expires_in`. */
  expiresIn: number;
  /** Some providers also report the refresh token's lifetime (GitHub: 6 months). */
  refreshTokenExpiresIn?: number;
  /** How the provider joins scopes in its `scope` response field. */
  scopeSeparator: " " | ",";
  defaultScopes: readonly string[];
  /** Token prefixes that mimic the real formats (helps spot a token from the wrong provider). */
  accessTokenPrefix: string;
  refreshTokenPrefix: string;
};

const basicAndPost = ["client_secret_basic", "client_secret_post"] as const;
const postOnly = ["client_secret_post"] as const;

export const providers: Readonly<Record<ProviderId, ProviderSpec>> = {
  // Google's discovery document lists both client_secret_post and client_secret_basic.
  google: {
    id: "google",
    authMethods: basicAndPost,
    rotatesByDefault: false,
    expiresIn: 3599,
    scopeSeparator: " ",
    defaultScopes: [
      "openid",
      "https://www.googleapis.com/auth/userinfo.email",
      "https://www.googleapis.com/auth/gmail.readonly",
      "https://www.googleapis.com/auth/calendar.readonly",
      "https://www.googleapis.com/auth/youtube.readonly",
    ],
    accessTokenPrefix: "ya29.",
    refreshTokenPrefix: "1//",
  },
  // Spotify documents Basic; body credentials are accepted too. A refresh may return a new refresh token.
  spotify: {
    id: "spotify",
    authMethods: basicAndPost,
    rotatesByDefault: true,
    expiresIn: 3600,
    scopeSeparator: " ",
    defaultScopes: ["user-read-email", "user-read-recently-played", "user-top-read", "playlist-read-private"],
    accessTokenPrefix: "BQ",
    refreshTokenPrefix: "AQ",
  },
  // GitHub OAuth apps with expiring user tokens: client_id/client_secret as body parameters only;
  // 8 h access tokens, 6-month rotating refresh tokens, comma-separated scopes.
  github: {
    id: "github",
    authMethods: postOnly,
    rotatesByDefault: true,
    expiresIn: 28800,
    refreshTokenExpiresIn: 15897600,
    scopeSeparator: ",",
    defaultScopes: ["repo", "read:user", "user:email"],
    accessTokenPrefix: "ghu_",
    refreshTokenPrefix: "ghr_",
  },
  // GitHub Apps' user-to-server tokens: same endpoint rules as github.
  "github-app": {
    id: "github-app",
    authMethods: postOnly,
    rotatesByDefault: true,
    expiresIn: 28800,
    refreshTokenExpiresIn: 15897600,
    scopeSeparator: ",",
    defaultScopes: [],
    accessTokenPrefix: "ghu_",
    refreshTokenPrefix: "ghr_",
  },
  // Discord accepts Basic or body credentials; every refresh rotates.
  discord: {
    id: "discord",
    authMethods: basicAndPost,
    rotatesByDefault: true,
    expiresIn: 604800,
    scopeSeparator: " ",
    defaultScopes: ["identify", "email", "guilds"],
    accessTokenPrefix: "",
    refreshTokenPrefix: "",
  },
  // LinkedIn takes client_id/client_secret in the body only; refresh tokens (1 year) do not rotate.
  linkedin: {
    id: "linkedin",
    authMethods: postOnly,
    rotatesByDefault: false,
    expiresIn: 5184000,
    refreshTokenExpiresIn: 31536000,
    scopeSeparator: ",",
    defaultScopes: ["openid", "profile", "email"],
    accessTokenPrefix: "AQV",
    refreshTokenPrefix: "AQX",
  },
  // Slack with token rotation enabled: Basic preferred, body accepted; 12 h tokens, rotating refresh.
  slack: {
    id: "slack",
    authMethods: basicAndPost,
    rotatesByDefault: true,
    expiresIn: 43200,
    scopeSeparator: ",",
    defaultScopes: ["channels:history", "channels:read", "users:read"],
    accessTokenPrefix: "xoxe.xoxp-1-",
    refreshTokenPrefix: "xoxe-1-",
  },
};

export function defaultClientId(provider: ProviderId): string {
  return `sim-${provider}-client`;
}

export function defaultClientSecret(provider: ProviderId): string {
  return `sim-${provider}-secret`;
}
