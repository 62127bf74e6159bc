import { describe, expect, it } from "vitest";
import { apiGet, refresh, startSimulator, type TestSimulator } from "../../../test-support.ts";

function recentlyPlayed(sim: TestSimulator): string {
  return `${sim.control.apiUrl("spotify")}/v1/me/player/recently-played`;
}

function gmailList(sim: TestSimulator): string {
  return `${sim.control.apiUrl("gmail")}/gmail/v1/users/me/messages`;
}

describe("data endpoint faults, rate limits and the request log", () => {
  it("targets data faults at one connection's resource: 429 with Retry-After, 500, malformed", async () => {
    const sim = await startSimulator();
    const victim = await sim.control.createGrant({ provider: "google", connectionKey: "victim" });
    const bystander = await sim.control.createGrant({ provider: "google", connectionKey: "bystander" });
    await sim.control.addFault({
      connectionKey: "victim",
      resource: "gmail.messages",
      fault: { kind: "status", status: 429, retryAfter: 7, error: "userRateLimitExceeded" },
    });
    await sim.control.addFault({
      connectionKey: "victim",
      resource: "gmail",
      fault: { kind: "status", status: 500 },
    });
    await sim.control.addFault({
      connectionKey: "victim",
      path: "/gmail/gmail/v1/users/me/messages",
      fault: { kind: "malformed" },
    });

    expect((await apiGet(gmailList(sim), bystander.accessToken)).status).toBe(200);
    // Another resource of the victim is untouched by the gmail.messages fault.
    const calendar = `${sim.control.apiUrl("calendar")}/calendar/v3/calendars/primary/events`;
    expect((await apiGet(calendar, victim.accessToken)).status).toBe(200);

    const limited = await apiGet(gmailList(sim), victim.accessToken);
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("7");
    expect(limited.json).toMatchObject({
      error: { code: 429, status: "RESOURCE_EXHAUSTED", errors: [{ reason: "userRateLimitExceeded" }] },
    });
    const broken = await apiGet(gmailList(sim), victim.accessToken);
    expect(broken).toMatchObject({ status: 500, json: { error: { code: 500, status: "INTERNAL" } } });
    const malformed = await apiGet(gmailList(sim), victim.accessToken);
    expect(malformed.status).toBe(200);
    expect(malformed.headers.get("content-type")).toContain("application/json");
    expect(() => JSON.parse(malformed.text)).toThrow();
    expect((await apiGet(gmailList(sim), victim.accessToken)).status).toBe(200);

    const log = await sim.control.requests({ connectionKey: "victim", resource: "gmail" });
    expect(log.map((r) => [r.status, r.fault, r.resource])).toEqual([
      [429, "status", "gmail.messages"],
      [500, "status", "gmail.messages"],
      [200, "malformed", "gmail.messages"],
      [200, null, "gmail.messages"],
    ]);
    expect(log[0]).toMatchObject({
      endpoint: "data",
      provider: "google",
      path: "/gmail/gmail/v1/users/me/messages",
    });
  });

  it("keeps token faults on token requests and data faults on data requests", async () => {
    const sim = await startSimulator();
    const grant = await sim.control.createGrant({ provider: "spotify", connectionKey: "split" });
    await sim.control.addFault({ connectionKey: "split", fault: { kind: "status", status: 503 } });
    await sim.control.addFault({
      connectionKey: "split",
      endpoint: "data",
      fault: { kind: "status", status: 502 },
    });
    expect((await apiGet(recentlyPlayed(sim), grant.accessToken)).json).toEqual({
      error: { status: 502, message: "Bad gateway." },
    });
    expect((await refresh(sim, "spotify", grant.refreshToken)).status).toBe(503);
    await expect(
      sim.control.addFault({ endpoint: "data", refreshToken: "x", fault: { kind: "malformed" } }),
    ).rejects.toMatchObject({ status: 400 });
    await expect(
      sim.control.addFault({ resource: "gmail", fault: { kind: "no_refresh_token" } }),
    ).rejects.toMatchObject({ status: 400 });
  });

  it("answers provider-wide faults in each platform's shape, with Discord's retry_after", async () => {
    const sim = await startSimulator();
    const grant = await sim.control.createGrant({ provider: "discord", connectionKey: "dc" });
    await sim.control.addFault({
      provider: "discord",
      endpoint: "data",
      fault: { kind: "status", status: 429, retryAfter: 3 },
      times: 2,
    });
    const url = `${sim.control.apiUrl("discord")}/api/v10/users/@me/guilds`;
    const res = await apiGet(url, grant.accessToken);
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("3");
    expect(res.json).toEqual({ message: "You are being rate limited.", retry_after: 3, global: false });
    expect((await apiGet(url, grant.accessToken)).status).toBe(429);
    expect((await apiGet(url, grant.accessToken)).status).toBe(200);
  });

  it("rate-limits a provider's data endpoints together with 429 and Retry-After, apart from its token endpoint", async () => {
    let now = Date.parse("2030-01-01T00:00:00Z");
    const sim = await startSimulator({ now: () => now });
    const a = await sim.control.createGrant({ provider: "google", connectionKey: "a", expiresIn: 86_400 });
    const b = await sim.control.createGrant({ provider: "google", connectionKey: "b", expiresIn: 86_400 });
    expect(
      await sim.control.setRateLimit({ provider: "google", scope: "data", requestsPerSecond: 2, burst: 3 }),
    ).toEqual({ google: { requestsPerSecond: 2, burst: 3 } });
    expect(sim.state.getRateLimits()).toEqual({});

    const calendar = `${sim.control.apiUrl("calendar")}/calendar/v3/calendars/primary/events`;
    const statuses = [];
    for (const [token, url] of [
      [a.accessToken, gmailList(sim)],
      [b.accessToken, gmailList(sim)],
      [a.accessToken, calendar],
      [b.accessToken, calendar],
    ] as const) {
      const res = await apiGet(url, token);
      statuses.push(res.status);
      if (res.status === 429) {
        expect(res.headers.get("retry-after")).toBe("1");
        expect(res.json).toMatchObject({ error: { code: 429, status: "RESOURCE_EXHAUSTED" } });
      }
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect((await refresh(sim, "google", a.refreshToken)).status).toBe(200);
    now += 500;
    expect((await apiGet(gmailList(sim), a.accessToken)).status).toBe(200);

    const google = await sim.control.requests({ endpoint: "data", provider: "google" });
    expect(google).toHaveLength(5);
    expect(google.filter((r) => r.status === 429).map((r) => r.error)).toEqual(["rate_limit_exceeded"]);
    expect((await sim.control.requests({ resource: "calendar.events" })).map((r) => r.connectionKey)).toEqual(
      ["a", "b"],
    );
    await sim.control.setRateLimit({ provider: "google", scope: "data", requestsPerSecond: null });
    expect(sim.state.getRateLimits("data")).toEqual({});
  });

  it("logs 401s without a connection, and the tokens' connection otherwise", async () => {
    const sim = await startSimulator();
    const grant = await sim.control.createGrant({ provider: "github", connectionKey: "gh" });
    await apiGet(`${sim.control.apiUrl("github")}/user`, "ghu_nope");
    await apiGet(`${sim.control.apiUrl("github")}/user`, grant.accessToken);
    expect(
      (await sim.control.requests({ endpoint: "data" })).map((r) => [r.connectionKey, r.status, r.error]),
    ).toEqual([
      [null, 401, "invalid_token"],
      ["gh", 200, null],
    ]);
  });
});
