import { describe, expect, it } from "vitest";
import { apiGet, refresh, startSimulator } from "../../test-support.ts";

const zero = { tokenRequests: 0, rotations: 0, reusedRefreshTokens: 0, grantsRevokedForReuse: 0 };

describe("GET /_control/stats", () => {
  it("counts spent refresh tokens presented and grants revoked for reuse, past the log's capacity", async () => {
    const sim = await startSimulator({ requestLogCapacity: 2 });
    expect(await sim.control.stats()).toEqual(zero);

    const grant = await sim.control.createGrant({ provider: "spotify", connectionKey: "s1" });
    const first = await refresh(sim, "spotify", grant.refreshToken);
    expect(first.status).toBe(200);
    // Three replays of the spent token: each counts, the grant is revoked once.
    for (let i = 0; i < 3; i += 1)
      expect((await refresh(sim, "spotify", grant.refreshToken)).status).toBe(400);
    // The current token of a revoked family is refused, but it is not a spent one.
    expect((await refresh(sim, "spotify", String(first.json?.refresh_token))).status).toBe(400);
    // Revoked by the user, not for reuse; and data requests are not token requests.
    const other = await sim.control.createGrant({ provider: "google", connectionKey: "s2" });
    await sim.control.revoke({ connectionKey: "s2" });
    await apiGet(`${sim.control.apiUrl("gmail")}/gmail/v1/users/me/profile`, other.accessToken);

    expect(await sim.control.stats()).toEqual({
      tokenRequests: 5,
      rotations: 1,
      reusedRefreshTokens: 3,
      grantsRevokedForReuse: 1,
    });
    expect(await sim.control.requests()).toHaveLength(2);

    await sim.control.reset();
    expect(await sim.control.stats()).toEqual(zero);
  });

  it("counts a reuse on every grant it revokes", async () => {
    const sim = await startSimulator();
    for (const connectionKey of ["a", "b"]) {
      const grant = await sim.control.createGrant({ provider: "github", connectionKey });
      await refresh(sim, "github", grant.refreshToken);
      await refresh(sim, "github", grant.refreshToken);
    }
    const res = await fetch(`${sim.url}/_control/stats`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      tokenRequests: 4,
      rotations: 2,
      reusedRefreshTokens: 2,
      grantsRevokedForReuse: 2,
    });
  });
});
