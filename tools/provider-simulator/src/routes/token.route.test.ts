import { describe, expect, it } from "vitest";
import { providerIds, providers } from "../providers.ts";
import { refresh, startSimulator } from "../test-support.ts";

describe("POST /<provider>/oauth/token", () => {
  it("refreshes with each provider's expires_in, Bearer type and scope", async () => {
    const sim = await startSimulator();
    const expected = {
      google: 3599,
      spotify: 3600,
      github: 28800,
      "github-app": 28800,
      discord: 604800,
      linkedin: 5184000,
      slack: 43200,
    } as const;
    for (const provider of providerIds) {
      const grant = await sim.control.createGrant({ provider, scopes: ["a", "b"] });
      const res = await refresh(sim, provider, grant.refreshToken);
      expect(res.status, provider).toBe(200);
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(res.json).toMatchObject({ token_type: "Bearer", expires_in: expected[provider] });
      expect(res.json?.scope).toBe(["a", "b"].join(providers[provider].scopeSeparator));
      expect(typeof res.json?.access_token).toBe("string");
      expect(String(res.json?.access_token).startsWith(providers[provider].accessTokenPrefix)).toBe(true);
      expect("refresh_token" in (res.json ?? {}), provider).toBe(providers[provider].rotatesByDefault);
      const info = sim.state.validateAccessToken(String(res.json?.access_token));
      expect(info).toMatchObject({ grantId: grant.id, provider, connectionKey: grant.connectionKey });
    }
  });

  it("rotates: issues a new refresh token, rejects the old one and revokes the family on reuse", async () => {
    const sim = await startSimulator();
    const grant = await sim.control.createGrant({ provider: "spotify", connectionKey: "rot-1" });
    const first = await refresh(sim, "spotify", grant.refreshToken);
    expect(first.status).toBe(200);
    const rotated = String(first.json?.refresh_token);
    expect(rotated).not.toBe(grant.refreshToken);

    // The rotated token works once more (and rotates again).
    const second = await refresh(sim, "spotify", rotated);
    expect(second.status).toBe(200);
    const current = String(second.json?.refresh_token);
    const accessToken = String(second.json?.access_token);
    expect(sim.state.validateAccessToken(accessToken)).not.toBeNull();

    const replay = await refresh(sim, "spotify", grant.refreshToken);
    expect(replay.status).toBe(400);
    expect(replay.json?.error).toBe("invalid_grant");

    // RFC 9700 reuse detection: the current token and its access tokens die with the family.
    const afterReuse = await refresh(sim, "spotify", current);
    expect(afterReuse.status).toBe(400);
    expect(afterReuse.json?.error).toBe("invalid_grant");
    expect(sim.state.validateAccessToken(accessToken)).toBeNull();

    const [view] = await sim.control.grants({ connectionKey: "rot-1" });
    expect(view).toMatchObject({ status: "revoked", revokedReason: "refresh_token_reuse", refreshCount: 2 });

    const log = await sim.control.requests({ connectionKey: "rot-1" });
    expect(log.map((r) => [r.status, r.rotated, r.reusedRefreshToken])).toEqual([
      [200, true, false],
      [200, true, false],
      [400, false, true],
      [400, false, false],
    ]);
  });

  it("keeps a non-rotating provider's refresh token working", async () => {
    const sim = await startSimulator();
    const grant = await sim.control.createGrant({ provider: "google" });
    expect(grant.rotate).toBe(false);
    for (let i = 0; i < 3; i += 1) {
      const res = await refresh(sim, "google", grant.refreshToken);
      expect(res.status).toBe(200);
      expect(res.json?.refresh_token).toBeUndefined();
    }
    const log = await sim.control.requests({ provider: "google" });
    expect(log.every((r) => r.status === 200 && !r.rotated && !r.reusedRefreshToken)).toBe(true);
  });

  it("accepts client_secret_basic and client_secret_post where the provider does", async () => {
    const sim = await startSimulator();
    const spotify = await sim.control.createGrant({ provider: "spotify", rotate: false });
    expect((await refresh(sim, "spotify", spotify.refreshToken, { auth: "basic" })).status).toBe(200);
    expect((await refresh(sim, "spotify", spotify.refreshToken, { auth: "post" })).status).toBe(200);

    // Basic credentials are form-encoded first (RFC 6749 §2.3.1).
    await sim.control.upsertClient({
      provider: "slack",
      clientId: "id with:colon",
      clientSecret: "s3cret+/=",
    });
    const slack = await sim.control.createGrant({ provider: "slack" });
    const slackRes = await refresh(sim, "slack", slack.refreshToken, {
      auth: "basic",
      clientId: "id with:colon",
      clientSecret: "s3cret+/=",
    });
    expect(slackRes.status).toBe(200);

    // LinkedIn and GitHub only take body credentials.
    const linkedin = await sim.control.createGrant({ provider: "linkedin" });
    const basic = await refresh(sim, "linkedin", linkedin.refreshToken, { auth: "basic" });
    expect(basic.status).toBe(401);
    expect(basic.json?.error).toBe("invalid_client");
    expect(basic.headers.get("www-authenticate")).toContain("Basic");
    expect((await refresh(sim, "linkedin", linkedin.refreshToken, { auth: "post" })).status).toBe(200);

    // Two methods at once is an invalid_request (RFC 6749 §2.3).
    const both = await refresh(sim, "spotify", spotify.refreshToken, {
      auth: "basic",
      extra: { client_secret: "sim-spotify-secret" },
    });
    expect(both.status).toBe(400);
    expect(both.json?.error).toBe("invalid_request");
  });

  it("answers 401 invalid_client for unknown or wrong client credentials", async () => {
    const sim = await startSimulator();
    const grant = await sim.control.createGrant({ provider: "discord" });
    const wrongSecret = await refresh(sim, "discord", grant.refreshToken, { clientSecret: "nope" });
    expect(wrongSecret.status).toBe(401);
    expect(wrongSecret.json).toMatchObject({ error: "invalid_client" });
    const basicWrong = await refresh(sim, "discord", grant.refreshToken, {
      auth: "basic",
      clientSecret: "nope",
    });
    expect(basicWrong.status).toBe(401);
    expect(basicWrong.headers.get("www-authenticate")).toBe('Basic realm="discord"');
    const unknown = await refresh(sim, "discord", grant.refreshToken, { clientId: "who" });
    expect(unknown.status).toBe(401);
    const none = await refresh(sim, "discord", grant.refreshToken, { auth: "none" });
    expect(none.status).toBe(401);
    expect(none.json?.error).toBe("invalid_client");
    // Another provider's client is unknown here.
    const crossed = await refresh(sim, "discord", grant.refreshToken, {
      clientId: "sim-google-client",
      clientSecret: "sim-google-secret",
    });
    expect(crossed.status).toBe(401);
    // Nothing was spent: the grant still refreshes.
    expect((await refresh(sim, "discord", grant.refreshToken)).status).toBe(200);
  });

  it("answers 400 unauthorized_client for a registered client that is not allowed", async () => {
    const sim = await startSimulator();
    await sim.control.upsertClient({
      provider: "google",
      clientId: "sim-google-client",
      clientSecret: "sim-google-secret",
      allowed: false,
    });
    const grant = await sim.control.createGrant({ provider: "google" });
    const res = await refresh(sim, "google", grant.refreshToken);
    expect(res.status).toBe(400);
    expect(res.json?.error).toBe("unauthorized_client");
  });

  it("lets the control API replace the default client pair", async () => {
    const sim = await startSimulator();
    await sim.control.upsertClient({
      provider: "github",
      clientId: "Iv1.abc",
      clientSecret: "gh",
      replace: true,
    });
    const grant = await sim.control.createGrant({ provider: "github", rotate: false });
    expect((await refresh(sim, "github", grant.refreshToken)).status).toBe(401);
    const ok = await refresh(sim, "github", grant.refreshToken, { clientId: "Iv1.abc", clientSecret: "gh" });
    expect(ok.status).toBe(200);
    expect(ok.json?.refresh_token_expires_in).toBe(15897600);
  });

  it("answers invalid_grant for unknown, revoked and other clients' refresh tokens", async () => {
    const sim = await startSimulator();
    const unknown = await refresh(sim, "google", "1//not-a-token");
    expect(unknown.status).toBe(400);
    expect(unknown.json?.error).toBe("invalid_grant");

    const grant = await sim.control.createGrant({ provider: "google", connectionKey: "rev" });
    const revoked = await sim.control.revoke({ connectionKey: "rev" });
    expect(revoked).toHaveLength(1);
    expect(sim.state.validateAccessToken(grant.accessToken)).toBeNull();
    const afterRevoke = await refresh(sim, "google", grant.refreshToken);
    expect(afterRevoke.status).toBe(400);
    expect(afterRevoke.json?.error).toBe("invalid_grant");

    // A token of another provider is unknown here.
    const spotify = await sim.control.createGrant({ provider: "spotify" });
    expect((await refresh(sim, "google", spotify.refreshToken)).json?.error).toBe("invalid_grant");

    await sim.control.upsertClient({ provider: "google", clientId: "second", clientSecret: "two" });
    const bound = await sim.control.createGrant({ provider: "google", clientId: "sim-google-client" });
    const other = await refresh(sim, "google", bound.refreshToken, {
      clientId: "second",
      clientSecret: "two",
    });
    expect(other.status).toBe(400);
    expect(other.json?.error).toBe("invalid_grant");
  });

  it("validates grant_type, repeated parameters and scope", async () => {
    const sim = await startSimulator();
    const grant = await sim.control.createGrant({ provider: "google", scopes: ["email", "gmail"] });
    const res = await fetch(sim.control.tokenUrl("google"), {
      method: "POST",
      body: new URLSearchParams({
        grant_type: "authorization_code",
        client_id: "sim-google-client",
        client_secret: "sim-google-secret",
      }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: "unsupported_grant_type" });

    const repeated = await refresh(sim, "google", grant.refreshToken, { extra: { refresh_token: "x" } });
    expect(repeated.json?.error).toBe("invalid_request");

    const json = await fetch(sim.control.tokenUrl("google"), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ grant_type: "refresh_token" }),
    });
    expect(json.status).toBe(400);
    expect(await json.json()).toMatchObject({ error: "invalid_request" });

    const narrowed = await refresh(sim, "google", grant.refreshToken, { scope: "email" });
    expect(narrowed.json?.scope).toBe("email");
    const wider = await refresh(sim, "google", grant.refreshToken, { scope: "email drive" });
    expect(wider.status).toBe(400);
    expect(wider.json?.error).toBe("invalid_scope");
  });

  it("rate-limits per client with 429 and Retry-After when configured", async () => {
    const sim = await startSimulator();
    // 0.1/s: the bucket refills one request per 10 s, so a slow CI machine cannot sneak a third one in.
    await sim.control.setRateLimit({ provider: "spotify", requestsPerSecond: 0.1, burst: 2 });
    const grant = await sim.control.createGrant({ provider: "spotify", rotate: false });
    expect((await refresh(sim, "spotify", grant.refreshToken)).status).toBe(200);
    expect((await refresh(sim, "spotify", grant.refreshToken)).status).toBe(200);
    const limited = await refresh(sim, "spotify", grant.refreshToken);
    expect(limited.status).toBe(429);
    expect(limited.json?.error).toBe("rate_limit_exceeded");
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(9);
    // Another provider is not limited; turning the limit off lifts it.
    const google = await sim.control.createGrant({ provider: "google" });
    expect((await refresh(sim, "google", google.refreshToken)).status).toBe(200);
    await sim.control.setRateLimit({ provider: "spotify", requestsPerSecond: null });
    expect((await refresh(sim, "spotify", grant.refreshToken)).status).toBe(200);
  });
});
