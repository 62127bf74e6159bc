// close(): what the tests and the dev stack rely on when they stop a simulator. It must end at once
// whatever connections clients left open, and still answer the requests already in flight.
import { once } from "node:events";
import { connect } from "node:net";
import { describe, expect, it } from "vitest";
import { refresh, startSimulator, type TestSimulator } from "./test-support.ts";

/** How long close() took, in ms. */
async function timeClose(sim: TestSimulator): Promise<number> {
  const started = performance.now();
  await sim.close();
  return performance.now() - started;
}

describe("close()", () => {
  it("ends at once after a client gave up on a hanging request (and opened a spare connection)", async () => {
    const sim = await startSimulator();
    const grant = await sim.control.createGrant({ provider: "discord", connectionKey: "hang" });
    await sim.control.addFault({ connectionKey: "hang", fault: { kind: "timeout" }, times: 1 });
    const aborted = refresh(sim, "discord", grant.refreshToken, { signal: AbortSignal.timeout(200) });
    await expect(aborted).rejects.toMatchObject({ name: "TimeoutError" });
    await expect.poll(() => sim.hangingRequests()).toBe(0);

    expect(await timeClose(sim)).toBeLessThan(1000);
  });

  it("ends at once while a connection is open that never sent a request", async () => {
    const sim = await startSimulator();
    const socket = connect(Number(new URL(sim.url).port), "127.0.0.1");
    await once(socket, "connect");
    const ended = once(socket, "close");

    expect(await timeClose(sim)).toBeLessThan(1000);
    await ended; // the simulator hung up on it
  });

  it("still answers a request in flight, on a keep-alive connection", async () => {
    const sim = await startSimulator({ latencyMs: 5_000 });
    const grant = await sim.control.createGrant({ provider: "google" });
    const arrived = once(sim.app.server, "request");
    const answer = refresh(sim, "google", grant.refreshToken);
    await arrived; // now waiting out the latency, which close() cuts short

    expect(await timeClose(sim)).toBeLessThan(1000);
    expect((await answer).status).toBe(200);
  });
});
