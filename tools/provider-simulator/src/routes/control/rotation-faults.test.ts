import { performance } from "node:perf_hooks";
import { describe, expect, it } from "vitest";
import { SimulatorState } from "../../state.ts";
import { refresh, startSimulator, type TestSimulator } from "../../test-support.ts";

/** A `random` that returns these draws in turn and fails the request if asked for more. */
function scripted(draws: number[]): () => number {
  let next = 0;
  return () => {
    const draw = draws[next];
    next += 1;
    if (draw === undefined) throw new Error("no draw scripted");
    return draw;
  };
}

async function grantOf(sim: TestSimulator, connectionKey: string) {
  const [grant] = await sim.control.grants({ connectionKey });
  if (grant === undefined) throw new Error(`no grant for ${connectionKey}`);
  return grant;
}

async function postFault(
  sim: TestSimulator,
  body: unknown,
): Promise<{ status: number; fields: string[]; message: string }> {
  const res = await fetch(`${sim.url}/_control/faults`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as { message?: string; issues?: Array<{ field: string }> };
  return { status: res.status, fields: (json.issues ?? []).map((i) => i.field), message: json.message ?? "" };
}

describe("faults after the provider committed a rotation", () => {
  it("late_answer rotates at once and answers ms later: the old token is spent during the wait", async () => {
    const sim = await startSimulator();
    const grant = await sim.control.createGrant({ provider: "spotify", connectionKey: "late" });
    await sim.control.addFault({ connectionKey: "late", fault: { kind: "late_answer", ms: 400 } });

    const started = performance.now();
    const late = refresh(sim, "spotify", grant.refreshToken);
    await expect.poll(async () => (await grantOf(sim, "late")).refreshCount).toBe(1);
    const rotated = await grantOf(sim, "late");
    expect(rotated.refreshToken).not.toBe(grant.refreshToken);

    // A client that retries with the token it still holds, because the answer is slow, replays it.
    const retry = await refresh(sim, "spotify", grant.refreshToken);
    expect(retry.status).toBe(400);
    expect(retry.json?.error).toBe("invalid_grant");

    const answer = await late;
    expect(performance.now() - started).toBeGreaterThanOrEqual(390);
    expect(answer.status).toBe(200);
    expect(answer.json?.refresh_token).toBe(rotated.refreshToken);
    // …too late: the replay revoked the family, the token just delivered included.
    expect(await grantOf(sim, "late")).toMatchObject({
      status: "revoked",
      revokedReason: "refresh_token_reuse",
    });
    expect((await refresh(sim, "spotify", rotated.refreshToken)).status).toBe(400);

    // Entries are logged as requests end: the replay before the late answer.
    const log = await sim.control.requests({ connectionKey: "late" });
    expect(log.map((r) => [r.status, r.fault, r.rotated, r.reusedRefreshToken])).toEqual([
      [400, null, false, true],
      [200, "late_answer", true, false],
      [400, null, false, false],
    ]);
    expect(await sim.control.stats()).toEqual({
      tokenRequests: 3,
      rotations: 1,
      reusedRefreshTokens: 1,
      grantsRevokedForReuse: 1,
    });
  });

  it("late_answer keeps the rotation when the client gives up during the wait", async () => {
    const sim = await startSimulator();
    const grant = await sim.control.createGrant({ provider: "spotify", connectionKey: "gone" });
    await sim.control.addFault({ connectionKey: "gone", fault: { kind: "late_answer", ms: 300 } });

    const gaveUp = refresh(sim, "spotify", grant.refreshToken, { signal: AbortSignal.timeout(100) });
    await expect(gaveUp).rejects.toMatchObject({ name: "TimeoutError" });
    const view = await grantOf(sim, "gone");
    expect(view).toMatchObject({ status: "active", refreshCount: 1 });
    expect(view.refreshToken).not.toBe(grant.refreshToken);

    // Logged when the wait ends, as never answered.
    await expect
      .poll(() => sim.state.requests({ connectionKey: "gone" }).map((r) => [r.status, r.fault, r.rotated]))
      .toEqual([[null, "late_answer", true]]);

    // The only token the client holds is spent: retrying with it costs the grant.
    const retry = await refresh(sim, "spotify", grant.refreshToken);
    expect(retry.status).toBe(400);
    expect(await grantOf(sim, "gone")).toMatchObject({
      status: "revoked",
      revokedReason: "refresh_token_reuse",
    });
    expect(await sim.control.stats()).toMatchObject({ reusedRefreshTokens: 1, grantsRevokedForReuse: 1 });
  });

  it("drop_after_rotate resets the connection after rotating", async () => {
    const sim = await startSimulator();
    const grant = await sim.control.createGrant({ provider: "discord", connectionKey: "drop" });
    await sim.control.addFault({ connectionKey: "drop", fault: { kind: "drop_after_rotate" } });

    const dropped = refresh(sim, "discord", grant.refreshToken);
    await expect(dropped).rejects.toMatchObject({ cause: { code: "ECONNRESET" } });

    const view = await grantOf(sim, "drop");
    expect(view).toMatchObject({ status: "active", refreshCount: 1 });
    expect(view.refreshToken).not.toBe(grant.refreshToken);
    expect(sim.state.peekRefreshToken(grant.refreshToken)?.used).toBe(true);
    // The committed token works: the provider did its part, only the answer was lost.
    const withCurrent = await refresh(sim, "discord", view.refreshToken);
    expect(withCurrent.status).toBe(200);

    const log = await sim.control.requests({ connectionKey: "drop" });
    expect(log.map((r) => [r.status, r.fault, r.rotated])).toEqual([
      [null, "drop_after_rotate", true],
      [200, null, true],
    ]);
    expect(sim.hangingRequests()).toBe(0);
  });

  it("answers late (or drops) whatever the answer: a replay under late_answer is a late 400", async () => {
    const sim = await startSimulator();
    const grant = await sim.control.createGrant({ provider: "slack", connectionKey: "lr" });
    expect((await refresh(sim, "slack", grant.refreshToken)).status).toBe(200);
    await sim.control.addFault({ connectionKey: "lr", fault: { kind: "late_answer", ms: 150 } });
    const started = performance.now();
    const replay = await refresh(sim, "slack", grant.refreshToken);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    expect(replay.status).toBe(400);
    expect(replay.json?.error).toBe("invalid_grant");
  });
});

describe("fault ratio", () => {
  it("applies a fault to the requests whose draw falls below the ratio", async () => {
    // Draw per matching request: 0.5 no, 0.1 yes, 0.29 yes, 0.3 no (not below), 0.99 no.
    const sim = await startSimulator({ random: scripted([0.5, 0.1, 0.29, 0.3, 0.99]) });
    const grant = await sim.control.createGrant({ provider: "google", connectionKey: "share" });
    await sim.control.addFault({
      connectionKey: "share",
      ratio: 0.3,
      fault: { kind: "status", status: 503 },
      times: null,
    });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i += 1) statuses.push((await refresh(sim, "google", grant.refreshToken)).status);
    expect(statuses).toEqual([200, 503, 503, 200, 200]);
    expect((await sim.control.faults())[0]).toMatchObject({ ratio: 0.3, remaining: null });
  });

  it("ratio 1 applies to every match without drawing", async () => {
    const sim = await startSimulator({ random: scripted([]) });
    const grant = await sim.control.createGrant({ provider: "google", connectionKey: "all" });
    await sim.control.addFault({
      connectionKey: "all",
      ratio: 1,
      fault: { kind: "status", status: 502 },
      times: 3,
    });
    for (let i = 0; i < 3; i += 1)
      expect((await refresh(sim, "google", grant.refreshToken)).status).toBe(502);
    expect((await refresh(sim, "google", grant.refreshToken)).status).toBe(200);
  });

  it("a request not picked keeps the fault's uses and meets the later faults", async () => {
    const sim = await startSimulator({ random: scripted([0.7, 0.2]) });
    const grant = await sim.control.createGrant({ provider: "google", connectionKey: "skip" });
    const sometimes = await sim.control.addFault({
      connectionKey: "skip",
      ratio: 0.5,
      fault: { kind: "status", status: 503 },
    });
    await sim.control.addFault({
      connectionKey: "skip",
      fault: { kind: "status", status: 429 },
      times: null,
    });

    expect((await refresh(sim, "google", grant.refreshToken)).status).toBe(429); // 0.7: not picked
    expect((await sim.control.faults()).find((f) => f.id === sometimes.id)?.remaining).toBe(1);
    expect((await refresh(sim, "google", grant.refreshToken)).status).toBe(503); // 0.2: picked, used up
    expect((await refresh(sim, "google", grant.refreshToken)).status).toBe(429); // no draw left to take
    expect(await sim.control.clearFaults({ connectionKey: "skip" })).toBe(1);
    expect((await refresh(sim, "google", grant.refreshToken)).status).toBe(200);
  });

  it("uses Math.random by default (about the ratio's share, with a wide margin)", () => {
    const state = new SimulatorState();
    state.addFault({ ratio: 0.3 }, { kind: "latency", ms: 1 }, null);
    const ctx = {
      endpoint: "token",
      provider: "spotify",
      connectionKey: null,
      refreshToken: null,
      resource: null,
      path: null,
    } as const;
    let picked = 0;
    for (let i = 0; i < 2000; i += 1) if (state.takeFault(ctx) !== null) picked += 1;
    // Expected 600, σ ≈ 20.5: the bounds are ±10σ, so this never fails by chance.
    expect(picked).toBeGreaterThan(395);
    expect(picked).toBeLessThan(805);
  });
});

describe("validation of the new fault fields", () => {
  it("rejects out-of-range ms and ratio, and token-only kinds on data requests", async () => {
    const sim = await startSimulator();
    const tooLong = await postFault(sim, { fault: { kind: "late_answer", ms: 600_001 } });
    expect(tooLong).toMatchObject({ status: 400, fields: ["fault.ms"] });
    expect(tooLong.message).toContain("at most 600000");
    expect(await postFault(sim, { fault: { kind: "late_answer", ms: -1 } })).toMatchObject({
      status: 400,
      fields: ["fault.ms"],
    });
    expect(await postFault(sim, { fault: { kind: "late_answer", ms: 1.5 } })).toMatchObject({
      status: 400,
      fields: ["fault.ms"],
    });
    expect(await postFault(sim, { fault: { kind: "late_answer" } })).toMatchObject({
      status: 400,
      fields: ["fault.ms"],
    });
    expect(await postFault(sim, { fault: { kind: "drop_after_rotate", ms: 5 } })).toMatchObject({
      status: 400,
      fields: ["fault.ms"],
    });

    for (const ratio of [0, -0.5, 1.01, "0.5", null]) {
      const res = await postFault(sim, { ratio, fault: { kind: "drop_after_rotate" } });
      expect(res, String(ratio)).toMatchObject({ status: 400, fields: ["ratio"] });
    }
    expect((await postFault(sim, { ratio: 0, fault: { kind: "timeout" } })).message).toContain(
      "more than 0 and at most 1",
    );

    for (const kind of ["late_answer", "drop_after_rotate"] as const) {
      const fault = kind === "late_answer" ? { kind, ms: 10 } : { kind };
      const res = await postFault(sim, { resource: "gmail", fault });
      expect(res).toMatchObject({ status: 400, fields: ["fault.kind"] });
      expect(res.message).toContain(`${kind} applies to token requests only`);
    }
    expect(await sim.control.faults()).toEqual([]);
  });
});
