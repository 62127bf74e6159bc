import { describe, expect, it } from "vitest";
import { providerIds } from "../config.ts";
import { parseScopes, providerSpecs, resolveProviders } from "./providers.ts";

describe("the provider registry", () => {
  it("describes every provider with a real https token endpoint and a documented client auth", () => {
    for (const id of providerIds) {
      const spec = providerSpecs[id];
      expect(spec.id).toBe(id);
      expect(new URL(spec.tokenUrl).protocol).toBe("https:");
      expect(["client_secret_basic", "client_secret_post"]).toContain(spec.clientAuth);
      expect(spec.defaultRateLimitPerSec).toBeGreaterThan(0);
    }
    expect(providerSpecs.github.accessTokenLifetimeSec).toBeNull();
    expect(providerSpecs["github-app"]).toMatchObject({
      accessTokenLifetimeSec: 28_800,
      rotatesRefreshToken: true,
    });
    expect(providerSpecs.google.scopes.join(" ")).toMatch(/gmail.*calendar.*youtube/);
  });

  it("disables providers without client credentials and applies overrides", () => {
    const providers = resolveProviders({
      REFRESH_CONCURRENCY: 32,
      PROVIDER_GOOGLE_CLIENT_ID: "id",
      PROVIDER_GOOGLE_CLIENT_SECRET: "secret",
      PROVIDER_GOOGLE_TOKEN_URL: "http://127.0.0.1:4010/google/oauth/token",
      PROVIDER_GOOGLE_RATE_LIMIT_PER_SEC: 7,
      PROVIDER_GITHUB_APP_CLIENT_ID: "app-id",
      PROVIDER_GITHUB_APP_CONCURRENCY: 3,
    });
    expect(providers.get("google")).toMatchObject({
      enabled: true,
      tokenUrl: "http://127.0.0.1:4010/google/oauth/token",
      tokenUrlOverridden: true,
      rateLimitPerSec: 7,
      concurrency: 32,
    });
    expect(providers.get("spotify")).toMatchObject({
      enabled: false,
      disabledReason: "PROVIDER_SPOTIFY_CLIENT_ID is not set",
      tokenUrl: providerSpecs.spotify.tokenUrl,
      rateLimitPerSec: providerSpecs.spotify.defaultRateLimitPerSec,
    });
    expect(providers.get("github-app")).toMatchObject({
      enabled: false,
      disabledReason: "PROVIDER_GITHUB_APP_CLIENT_SECRET is not set",
      concurrency: 3,
    });
  });

  it("fingerprints the configuration without exposing it", () => {
    const a = resolveProviders({
      REFRESH_CONCURRENCY: 1,
      PROVIDER_SLACK_CLIENT_ID: "id",
      PROVIDER_SLACK_CLIENT_SECRET: "s1",
    });
    const b = resolveProviders({
      REFRESH_CONCURRENCY: 1,
      PROVIDER_SLACK_CLIENT_ID: "id",
      PROVIDER_SLACK_CLIENT_SECRET: "s2",
    });
    const fa = a.get("slack")?.configFingerprint;
    expect(fa).toMatch(/^[0-9a-f]{64}$/);
    expect(fa).not.toBe(b.get("slack")?.configFingerprint);
    expect(fa).not.toContain("s1");
  });

  it("reads scopes separated by spaces or commas", () => {
    expect(parseScopes("repo,read:user, user:email")).toEqual(["repo", "read:user", "user:email"]);
    expect(parseScopes("openid  email openid")).toEqual(["openid", "email"]);
  });
});
