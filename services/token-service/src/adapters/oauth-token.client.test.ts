import { createServer } from "node:http";
import { createSimulator, type Simulator, SimulatorControl } from "@syncwell/provider-simulator";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ProviderId } from "../config.ts";
import { providerSpecs } from "../domain/providers.ts";
import { maskTokens, refreshAccessToken, type TokenEndpoint } from "./oauth-token.client.ts";

let sim: Simulator;
let control: SimulatorControl;

beforeAll(async () => {
  sim = await createSimulator();
  control = new SimulatorControl(sim.url);
});

afterAll(async () => {
  await sim?.close();
});

beforeEach(async () => {
  await control.reset();
});

function endpoint(provider: ProviderId, overrides: Partial<TokenEndpoint> = {}): TokenEndpoint {
  return {
    tokenUrl: control.tokenUrl(provider),
    ...SimulatorControl.defaultCredentials(provider),
    clientAuth: providerSpecs[provider].clientAuth,
    ...overrides,
  };
}

describe("refreshAccessToken against the simulator", () => {
  it("refreshes with client_secret_post (Google) without rotation", async () => {
    const grant = await control.createGrant({ provider: "google", connectionKey: "g1" });
    const result = await refreshAccessToken(endpoint("google"), grant.refreshToken, {
      sendTimeoutMs: 2_000,
      answerTimeoutMs: 2_000,
    });
    expect(result).toMatchObject({ ok: true, expiresIn: 3599 });
    if (!result.ok) return;
    expect(result.accessToken).toMatch(/^ya29\./);
    expect(result.refreshToken).toBeUndefined();
    expect(result.scope).toContain("gmail.readonly");
    const [logged] = await control.requests({ connectionKey: "g1" });
    expect(logged).toMatchObject({ status: 200, clientId: "sim-google-client", reusedRefreshToken: false });
  });

  it("refreshes with client_secret_basic (Spotify) and returns the rotated refresh token", async () => {
    const grant = await control.createGrant({ provider: "spotify", connectionKey: "s1" });
    const result = await refreshAccessToken(endpoint("spotify"), grant.refreshToken, {
      sendTimeoutMs: 2_000,
      answerTimeoutMs: 2_000,
    });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.refreshToken).toBeDefined();
    expect(result.refreshToken).not.toBe(grant.refreshToken);
    // The old token is spent now: presenting it again is a replay, and the simulator says so.
    const replay = await refreshAccessToken(endpoint("spotify"), grant.refreshToken, {
      sendTimeoutMs: 2_000,
      answerTimeoutMs: 2_000,
    });
    expect(replay).toMatchObject({ ok: false, kind: "oauth_error", status: 400, error: "invalid_grant" });
  });

  it("encodes Basic credentials as RFC 6749 §2.3.1 says (form-encoded before base64)", async () => {
    const clientId = "id with space:and+colon";
    const clientSecret = "s3cr3t/with=odd&chars%";
    await control.upsertClient({ provider: "discord", clientId, clientSecret, replace: true });
    const grant = await control.createGrant({ provider: "discord", connectionKey: "d1" });
    const result = await refreshAccessToken(
      endpoint("discord", { clientId, clientSecret }),
      grant.refreshToken,
      {
        sendTimeoutMs: 2_000,
        answerTimeoutMs: 2_000,
      },
    );
    expect(result.ok).toBe(true);
  });

  it("reports a missing refresh_token as absent (the caller keeps the old one)", async () => {
    const grant = await control.createGrant({ provider: "spotify", connectionKey: "s2" });
    await control.addFault({ connectionKey: "s2", fault: { kind: "no_refresh_token" } });
    const result = await refreshAccessToken(endpoint("spotify"), grant.refreshToken, {
      sendTimeoutMs: 2_000,
      answerTimeoutMs: 2_000,
    });
    expect(result).toMatchObject({ ok: true });
    expect(result.ok && result.refreshToken).toBeUndefined();
  });

  it("returns OAuth errors as values, with a masked description", async () => {
    const grant = await control.createGrant({ provider: "google", connectionKey: "g2" });
    await control.addFault({
      connectionKey: "g2",
      fault: {
        kind: "status",
        status: 400,
        error: "invalid_grant",
        errorDescription: `Token ${grant.refreshToken} has been expired or revoked.`,
      },
    });
    const result = await refreshAccessToken(endpoint("google"), grant.refreshToken, {
      sendTimeoutMs: 2_000,
      answerTimeoutMs: 2_000,
    });
    expect(result).toMatchObject({ ok: false, kind: "oauth_error", status: 400, error: "invalid_grant" });
    if (result.ok) return;
    expect(result.errorDescription).toBe("Token [redacted] has been expired or revoked.");
    expect(JSON.stringify(result)).not.toContain(grant.refreshToken);
  });

  it("reports wrong client credentials as invalid_client (401 with a Basic challenge)", async () => {
    const grant = await control.createGrant({ provider: "spotify", connectionKey: "s3" });
    const result = await refreshAccessToken(
      endpoint("spotify", { clientSecret: "wrong" }),
      grant.refreshToken,
      {
        sendTimeoutMs: 2_000,
        answerTimeoutMs: 2_000,
      },
    );
    expect(result).toMatchObject({ ok: false, kind: "oauth_error", status: 401, error: "invalid_client" });
  });

  it("parses Retry-After in seconds and as an HTTP date", async () => {
    const grant = await control.createGrant({ provider: "slack", connectionKey: "k1" });
    await control.addFault({ connectionKey: "k1", fault: { kind: "status", status: 429, retryAfter: 30 } });
    expect(
      await refreshAccessToken(endpoint("slack"), grant.refreshToken, {
        sendTimeoutMs: 2_000,
        answerTimeoutMs: 2_000,
      }),
    ).toMatchObject({
      ok: false,
      kind: "oauth_error",
      status: 429,
      error: "rate_limit_exceeded",
      retryAfterMs: 30_000,
    });
    const at = new Date(Date.now() + 120_000);
    at.setMilliseconds(0);
    await control.addFault({
      connectionKey: "k1",
      fault: { kind: "status", status: 503, retryAfter: at.toUTCString() },
    });
    const now = Date.now();
    const result = await refreshAccessToken(endpoint("slack"), grant.refreshToken, {
      sendTimeoutMs: 2_000,
      answerTimeoutMs: 2_000,
      now: () => now,
    });
    expect(result).toMatchObject({ ok: false, status: 503, retryAfterMs: at.getTime() - now });
  });

  it("times out, and reports malformed bodies and unreachable endpoints", async () => {
    const grant = await control.createGrant({ provider: "linkedin", connectionKey: "l1" });
    await control.addFault({ connectionKey: "l1", fault: { kind: "timeout" } });
    const started = Date.now();
    expect(
      await refreshAccessToken(endpoint("linkedin"), grant.refreshToken, {
        sendTimeoutMs: 2_000,
        answerTimeoutMs: 300,
      }),
    ).toEqual({
      ok: false,
      kind: "timeout",
      answerLost: true,
    });
    expect(Date.now() - started).toBeLessThan(2_000);

    await control.addFault({ connectionKey: "l1", fault: { kind: "malformed" } });
    expect(
      await refreshAccessToken(endpoint("linkedin"), grant.refreshToken, {
        sendTimeoutMs: 2_000,
        answerTimeoutMs: 2_000,
      }),
    ).toEqual({
      ok: false,
      kind: "malformed",
      status: 200,
    });

    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const address = closed.address();
    await new Promise((resolve) => closed.close(resolve));
    const port = typeof address === "object" && address ? address.port : 1;
    const unreachable = await refreshAccessToken(
      endpoint("linkedin", { tokenUrl: `http://127.0.0.1:${port}/token` }),
      grant.refreshToken,
      { sendTimeoutMs: 2_000, answerTimeoutMs: 2_000 },
    );
    expect(unreachable).toMatchObject({ ok: false, kind: "network", errorDescription: "ECONNREFUSED" });
  });

  it("reads errors answered with HTTP 200 (GitHub, Slack) as OAuth errors", async () => {
    const server = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          error: "bad_refresh_token",
          error_description: "The refresh token passed is incorrect or expired.",
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : 1;
    try {
      const result = await refreshAccessToken(
        {
          tokenUrl: `http://127.0.0.1:${port}/login/oauth/access_token`,
          clientId: "a",
          clientSecret: "b",
          clientAuth: "client_secret_post",
        },
        "ghr_refresh",
        { sendTimeoutMs: 2_000, answerTimeoutMs: 2_000 },
      );
      expect(result).toMatchObject({
        ok: false,
        kind: "oauth_error",
        status: 200,
        error: "bad_refresh_token",
      });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe("maskTokens", () => {
  it("masks the known secrets and anything that looks like a token", () => {
    expect(maskTokens("bad token abc.def-secret-1", ["abc.def-secret-1"])).toBe("bad token [redacted]");
    expect(maskTokens("refresh_token=xyz&x=1")).toBe("refresh_token=[redacted]&x=1");
    expect(maskTokens("Token 1//0gAbCdEfGhIjKlMnOpQrStUv123 is revoked")).toBe(
      "Token 1//[redacted] is revoked",
    );
    expect(maskTokens("See https://developers.google.com/identity/protocols/oauth2")).toBe(
      "See https://developers.google.com/identity/protocols/oauth2",
    );
    expect(maskTokens("x".repeat(600))).toHaveLength(500);
  });
});
