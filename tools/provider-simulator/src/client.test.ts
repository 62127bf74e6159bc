import { describe, expect, it } from "vitest";
import { SimulatorControlError } from "./client.ts";
import { refresh, startSimulator } from "./test-support.ts";

describe("SimulatorControl", () => {
  it("creates grants with provider defaults and a working access token", async () => {
    const sim = await startSimulator();
    const grant = await sim.control.createGrant({ provider: "github-app", connectionKey: "gh-1" });
    expect(grant).toMatchObject({
      provider: "github-app",
      connectionKey: "gh-1",
      rotate: true,
      expiresIn: 28800,
      status: "active",
      refreshCount: 0,
    });
    expect(grant.refreshToken.startsWith("ghr_")).toBe(true);
    expect(sim.state.validateAccessToken(grant.accessToken)).toMatchObject({ connectionKey: "gh-1" });
    expect(sim.state.validateAccessToken("nope")).toBeNull();

    const custom = await sim.control.createGrant({
      provider: "linkedin",
      refreshToken: "my-token",
      rotate: true,
      expiresIn: 60,
      scopes: ["r_liteprofile"],
    });
    expect(custom).toMatchObject({ refreshToken: "my-token", rotate: true, expiresIn: 60 });
    expect(custom.connectionKey).toEqual(expect.any(String));
    await expect(
      sim.control.createGrant({ provider: "linkedin", refreshToken: "my-token" }),
    ).rejects.toMatchObject({
      status: 409,
    });
    expect(await sim.control.grants({ provider: "linkedin" })).toHaveLength(1);
  });

  it("expires access tokens by the state's clock", async () => {
    let now = Date.parse("2030-01-01T00:00:00Z");
    const sim = await startSimulator({ now: () => now });
    const grant = await sim.control.createGrant({ provider: "google", expiresIn: 60 });
    expect(sim.state.validateAccessToken(grant.accessToken)?.expiresAt).toBe(now + 60_000);
    now += 60_000;
    expect(sim.state.validateAccessToken(grant.accessToken)).toBeNull();
  });

  it("logs token requests per provider and connection", async () => {
    const sim = await startSimulator();
    const a = await sim.control.createGrant({ provider: "discord", connectionKey: "a" });
    const b = await sim.control.createGrant({ provider: "google", connectionKey: "b" });
    const rotated = await refresh(sim, "discord", a.refreshToken);
    await refresh(sim, "discord", String(rotated.json?.refresh_token));
    await refresh(sim, "google", b.refreshToken, { auth: "basic" });
    await refresh(sim, "google", "unknown");

    const all = await sim.control.requests();
    expect(all).toHaveLength(4);
    expect(all.map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    expect(all[0]).toMatchObject({
      endpoint: "token",
      provider: "discord",
      connectionKey: "a",
      grantId: a.id,
      clientId: "sim-discord-client",
      status: 200,
      error: null,
      fault: null,
      rotated: true,
      reusedRefreshToken: false,
    });
    expect(all[0]?.time).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(all[0]?.durationMs).toEqual(expect.any(Number));
    expect(all[3]).toMatchObject({
      provider: "google",
      connectionKey: null,
      status: 400,
      error: "invalid_grant",
    });

    expect(await sim.control.requests({ connectionKey: "a" })).toHaveLength(2);
    expect((await sim.control.requests({ provider: "google" })).map((r) => r.clientId)).toEqual([
      "sim-google-client",
      "sim-google-client",
    ]);
    expect((await sim.control.requests({ since: 2 })).map((r) => r.seq)).toEqual([3, 4]);
    expect((await sim.control.requests({ limit: 1 })).map((r) => r.seq)).toEqual([4]);
    // The proof other packages' tests rely on: no spent refresh token was ever presented.
    expect(all.some((r) => r.reusedRefreshToken)).toBe(false);
  });

  it("keeps the request log bounded", async () => {
    const sim = await startSimulator({ requestLogCapacity: 3 });
    const grant = await sim.control.createGrant({ provider: "google" });
    for (let i = 0; i < 5; i += 1) await refresh(sim, "google", grant.refreshToken);
    expect((await sim.control.requests()).map((r) => r.seq)).toEqual([3, 4, 5]);
  });

  it("rejects bad control bodies with 400 naming the field", async () => {
    const sim = await startSimulator();
    const error = await sim.control.createGrant({ provider: "myspace" as "google", expiresIn: 0 }).then(
      () => null,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(SimulatorControlError);
    const body = (error as SimulatorControlError).body as {
      issues: Array<{ field: string; reason: string }>;
    };
    expect(body.issues.map((i) => i.field).sort()).toEqual(["expiresIn", "provider"]);

    const missing = await fetch(`${sim.url}/_control/grants`, { method: "POST" });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { issues: Array<{ field: string }> }).issues[0]?.field).toBe(
      "provider",
    );

    const unknownField = await fetch(`${sim.url}/_control/latency`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ms: 1, jitter: 5 }),
    });
    expect(unknownField.status).toBe(400);
    expect(await unknownField.json()).toMatchObject({
      issues: [{ field: "jitter", reason: "unknown field" }],
    });

    // Empty query values mean "no filter".
    const emptyFilter = await fetch(`${sim.url}/_control/requests?provider=&connectionKey=`);
    expect(emptyFilter.status).toBe(200);

    await expect(sim.control.revoke({})).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining("refreshToken"),
    });
    await expect(sim.control.requests({ limit: 0 })).rejects.toMatchObject({ status: 400 });
  });

  it("revokes by refresh token or connection key", async () => {
    const sim = await startSimulator();
    const a = await sim.control.createGrant({ provider: "spotify", connectionKey: "x" });
    const b = await sim.control.createGrant({ provider: "google", connectionKey: "x" });
    const c = await sim.control.createGrant({ provider: "google" });
    expect((await sim.control.revoke({ connectionKey: "x", provider: "google" })).map((g) => g.id)).toEqual([
      b.id,
    ]);
    expect((await sim.control.revoke({ refreshToken: c.refreshToken })).map((g) => g.id)).toEqual([c.id]);
    expect((await refresh(sim, "spotify", a.refreshToken)).status).toBe(200);
    expect((await refresh(sim, "google", b.refreshToken)).json?.error).toBe("invalid_grant");
    expect((await refresh(sim, "google", c.refreshToken)).json?.error).toBe("invalid_grant");
  });

  it("resets everything to defaults", async () => {
    const sim = await startSimulator({ latencyMs: 5 });
    const grant = await sim.control.createGrant({ provider: "google" });
    await sim.control.addFault({ fault: { kind: "timeout" }, times: null });
    await sim.control.setLatency({ ms: 500 });
    await sim.control.setRateLimit({ provider: "google", requestsPerSecond: 1 });
    await sim.control.upsertClient({ provider: "google", clientId: "c", clientSecret: "s", replace: true });
    await sim.control.reset();

    expect(await sim.control.grants()).toEqual([]);
    expect(await sim.control.faults()).toEqual([]);
    expect(await sim.control.requests()).toEqual([]);
    expect(sim.state.latency).toEqual({ ms: 5, jitterMs: 0 });
    expect(sim.state.getRateLimits()).toEqual({});
    expect(sim.state.listClients("google").map((c) => c.clientId)).toEqual(["sim-google-client"]);
    expect((await refresh(sim, "google", grant.refreshToken)).json?.error).toBe("invalid_grant");
  });

  it("clears faults selectively", async () => {
    const sim = await startSimulator();
    const a = await sim.control.addFault({ connectionKey: "a", fault: { kind: "malformed" }, times: null });
    await sim.control.addFault({ provider: "slack", fault: { kind: "malformed" } });
    await sim.control.addFault({ connectionKey: "b", fault: { kind: "malformed" } });
    expect(a).toMatchObject({ connectionKey: "a", remaining: null, fault: { kind: "malformed" } });
    expect(await sim.control.clearFaults({ provider: "slack" })).toBe(1);
    expect(await sim.control.clearFaults({ id: a.id })).toBe(1);
    expect((await sim.control.faults()).map((f) => f.connectionKey)).toEqual(["b"]);
  });

  it("answers /healthz", async () => {
    const sim = await startSimulator();
    const res = await fetch(`${sim.url}/healthz`);
    expect(await res.json()).toEqual({ status: "ok" });
  });
});
