import { performance } from "node:perf_hooks";
import { describe, expect, it } from "vitest";
import { SimulatorControlError } from "../../client.ts";
import { refresh, startSimulator } from "../../test-support.ts";

describe("scripted faults", () => {
  it("answers the next 3 requests of a connection with 503, then succeeds", async () => {
    const sim = await startSimulator();
    const grant = await sim.control.createGrant({ provider: "spotify", connectionKey: "flaky" });
    const bystander = await sim.control.createGrant({ provider: "spotify", connectionKey: "fine" });
    await sim.control.addFault({ connectionKey: "flaky", fault: { kind: "status", status: 503 }, times: 3 });

    expect((await refresh(sim, "spotify", bystander.refreshToken)).status).toBe(200);
    for (let i = 0; i < 3; i += 1) {
      const res = await refresh(sim, "spotify", grant.refreshToken);
      expect(res.status).toBe(503);
      expect(res.json?.error).toBe("temporarily_unavailable");
    }
    const ok = await refresh(sim, "spotify", grant.refreshToken);
    expect(ok.status).toBe(200);
    expect(ok.json?.refresh_token).toEqual(expect.any(String));
    expect(await sim.control.faults()).toEqual([]);

    const log = await sim.control.requests({ connectionKey: "flaky" });
    expect(log.map((r) => [r.status, r.fault])).toEqual([
      [503, "status"],
      [503, "status"],
      [503, "status"],
      [200, null],
    ]);
  });

  it("sends 429 with Retry-After in seconds or as an HTTP date", async () => {
    const sim = await startSimulator();
    const grant = await sim.control.createGrant({ provider: "github", connectionKey: "busy" });
    await sim.control.addFault({
      provider: "github",
      fault: { kind: "status", status: 429, retryAfter: 30 },
    });
    const date = new Date(Date.now() + 120_000);
    await sim.control.addFault({
      connectionKey: "busy",
      fault: { kind: "status", status: 429, retryAfter: date.toUTCString(), error: "slow_down" },
    });

    const seconds = await refresh(sim, "github", grant.refreshToken);
    expect(seconds.status).toBe(429);
    expect(seconds.headers.get("retry-after")).toBe("30");
    expect(seconds.json?.error).toBe("rate_limit_exceeded");

    const httpDate = await refresh(sim, "github", grant.refreshToken);
    expect(httpDate.status).toBe(429);
    expect(httpDate.headers.get("retry-after")).toBe(date.toUTCString());
    expect(httpDate.json?.error).toBe("slow_down");

    expect((await refresh(sim, "github", grant.refreshToken)).status).toBe(200);
  });

  it("can script any OAuth error and keep it until cleared", async () => {
    const sim = await startSimulator();
    const grant = await sim.control.createGrant({ provider: "slack", connectionKey: "s1" });
    await sim.control.addFault({
      refreshToken: grant.refreshToken,
      fault: { kind: "status", status: 401, error: "invalid_client" },
      times: null,
    });
    for (let i = 0; i < 4; i += 1) {
      const res = await refresh(sim, "slack", grant.refreshToken);
      expect(res.status).toBe(401);
      expect(res.json?.error).toBe("invalid_client");
    }
    expect(await sim.control.clearFaults()).toBe(1);
    expect((await refresh(sim, "slack", grant.refreshToken)).status).toBe(200);
  });

  it("adds latency per fault and globally, but not to the control API", async () => {
    const sim = await startSimulator();
    const grant = await sim.control.createGrant({ provider: "google", connectionKey: "slow" });
    await sim.control.addFault({ connectionKey: "slow", fault: { kind: "latency", ms: 150 } });
    let started = performance.now();
    expect((await refresh(sim, "google", grant.refreshToken)).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);

    expect(await sim.control.setLatency({ ms: 300, jitterMs: 20 })).toEqual({ ms: 300, jitterMs: 20 });
    started = performance.now();
    await sim.control.requests();
    expect(performance.now() - started).toBeLessThan(250);
    started = performance.now();
    expect((await refresh(sim, "google", grant.refreshToken)).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(295);
  });

  it("reads SIM_LATENCY_MS-style options at start", async () => {
    const sim = await startSimulator({ latencyMs: 80 });
    const grant = await sim.control.createGrant({ provider: "google" });
    const started = performance.now();
    await refresh(sim, "google", grant.refreshToken);
    expect(performance.now() - started).toBeGreaterThanOrEqual(75);
  });

  it("never answers on timeout until the client gives up, and closes without leaking", async () => {
    const sim = await startSimulator();
    const grant = await sim.control.createGrant({ provider: "discord", connectionKey: "hang" });
    await sim.control.addFault({ connectionKey: "hang", fault: { kind: "timeout" }, times: 2 });

    const aborted = refresh(sim, "discord", grant.refreshToken, { signal: AbortSignal.timeout(200) });
    await expect(aborted).rejects.toMatchObject({ name: "TimeoutError" });
    // The server noticed the client leaving and let the request go.
    await expect.poll(() => sim.hangingRequests()).toBe(0);

    // A request still hanging when the simulator closes is cut off; close() does not wait for it.
    const pending = refresh(sim, "discord", grant.refreshToken, { signal: AbortSignal.timeout(30_000) }).then(
      () => "answered",
      (err: unknown) => err,
    );
    await expect.poll(() => sim.hangingRequests()).toBe(1);
    const started = performance.now();
    await sim.close();
    expect(performance.now() - started).toBeLessThan(1000);
    expect(await pending).toBeInstanceOf(Error);
    expect(sim.hangingRequests()).toBe(0);

    const log = sim.state.requests({ connectionKey: "hang" });
    expect(log.map((r) => [r.status, r.fault])).toEqual([
      [null, "timeout"],
      [null, "timeout"],
    ]);
  });

  it("answers 200 with a malformed body and leaves the grant untouched", async () => {
    const sim = await startSimulator();
    const grant = await sim.control.createGrant({ provider: "spotify", connectionKey: "m" });
    await sim.control.addFault({ connectionKey: "m", fault: { kind: "malformed" } });
    const res = await refresh(sim, "spotify", grant.refreshToken);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("application/json");
    expect(res.json).toBeNull();
    expect(() => JSON.parse(res.text)).toThrow();
    // The client retrying with the same token is not a replay.
    const retry = await refresh(sim, "spotify", grant.refreshToken);
    expect(retry.status).toBe(200);
    expect(sim.state.requests().some((r) => r.reusedRefreshToken)).toBe(false);
  });

  it("answers without a refresh token on no_refresh_token and keeps the old one valid", async () => {
    const sim = await startSimulator();
    const grant = await sim.control.createGrant({ provider: "spotify", connectionKey: "nrt" });
    await sim.control.addFault({ connectionKey: "nrt", fault: { kind: "no_refresh_token" } });
    const first = await refresh(sim, "spotify", grant.refreshToken);
    expect(first.status).toBe(200);
    expect(first.json?.access_token).toEqual(expect.any(String));
    expect(first.json?.refresh_token).toBeUndefined();

    const second = await refresh(sim, "spotify", grant.refreshToken);
    expect(second.status).toBe(200);
    expect(second.json?.refresh_token).toEqual(expect.any(String));
    const log = await sim.control.requests({ connectionKey: "nrt" });
    expect(log.map((r) => [r.fault, r.rotated, r.reusedRefreshToken])).toEqual([
      ["no_refresh_token", false, false],
      [null, true, false],
    ]);
  });

  it("rejects a bad fault body with 400 naming the field", async () => {
    const sim = await startSimulator();
    const res = await fetch(`${sim.url}/_control/faults`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ fault: { kind: "status", status: 504 } }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: string; message: string; issues: Array<{ field: string }> };
    expect(body.error).toBe("invalid_body");
    expect(body.issues.map((i) => i.field)).toEqual(["fault.status"]);
    expect(body.message).toContain("fault.status");

    const viaClient = sim.control.addFault({
      fault: { kind: "latency", ms: -1 },
    });
    await expect(viaClient).rejects.toBeInstanceOf(SimulatorControlError);
    await expect(viaClient).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining("fault.ms"),
    });

    const badDate = await fetch(`${sim.url}/_control/faults`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ fault: { kind: "status", status: 429, retryAfter: "soon" }, times: 0 }),
    });
    const badDateBody = (await badDate.json()) as { issues: Array<{ field: string }> };
    expect(badDateBody.issues.map((i) => i.field).sort()).toEqual(["fault.retryAfter", "times"]);
  });
});
