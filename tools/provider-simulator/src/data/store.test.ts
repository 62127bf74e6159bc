import { describe, expect, it } from "vitest";
import { SimulatorState } from "../state.ts";
import { apiGet, startSimulator } from "../test-support.ts";
import { gmailMessages } from "./gmail.ts";
import { resourceSpecs } from "./index.ts";

describe("generated data", () => {
  it("is the same for the same connection in two simulators, and differs between connections", () => {
    const epoch = Date.parse("2030-06-01T12:00:00Z");
    const one = new SimulatorState({ dataEpoch: epoch });
    const two = new SimulatorState({ dataEpoch: epoch });
    for (const spec of resourceSpecs.values()) {
      const a = one.data.dataset(one.data.account("google", "same"), spec);
      const b = two.data.dataset(two.data.account("google", "same"), spec);
      expect(a.items, spec.name).toEqual(b.items);
      expect(a.size).toBeGreaterThanOrEqual(25);
      expect(a.size).toBeLessThanOrEqual(60);
      for (const item of a.items) expect(item.time, spec.name).toBeLessThan(epoch);
    }
    const other = one.data.dataset(one.data.account("google", "other"), gmailMessages);
    expect(other.items[0]?.id).not.toBe(
      one.data.dataset(one.data.account("google", "same"), gmailMessages).items[0]?.id,
    );
  });

  it("evicts the least recently used unchanged accounts beyond the capacity, never changed ones", () => {
    const state = new SimulatorState({ dataCacheSize: 3, now: () => Date.parse("2030-01-01T00:00:00Z") });
    const changed = state.data.account("google", "changed");
    const before = state.data.dataset(changed, gmailMessages).items.map((m) => m.id);
    state.data.add(changed, gmailMessages, [], 1, state.now());
    for (let i = 0; i < 10; i += 1) state.data.dataset(state.data.account("google", `c${i}`), gmailMessages);
    expect(state.data.stats()).toMatchObject({ accounts: 3, pinned: 1 });
    const again = state.data.dataset(state.data.account("google", "changed"), gmailMessages);
    expect(again.size).toBe(before.length + 1);
    // A dropped unchanged account comes back identical.
    const first = state.data.dataset(state.data.account("google", "c0"), gmailMessages).items;
    const fresh = new SimulatorState({ dataEpoch: state.data.epoch });
    expect(fresh.data.dataset(fresh.data.account("google", "c0"), gmailMessages).items).toEqual(first);
  });

  it("generates a connection's data with its grant when asked: the same data its first request would get", async () => {
    const sim = await startSimulator();
    await sim.control.createGrant({ provider: "google", connectionKey: "early", generateData: true });
    await sim.control.createGrant({ provider: "discord", connectionKey: "lazy" });
    // Gmail, Calendar and YouTube for the Google grant; nothing yet for the other.
    expect(await sim.control.dataStats()).toMatchObject({ accounts: 1, datasets: 3 });
    const fresh = new SimulatorState({ dataEpoch: sim.state.data.epoch });
    for (const spec of resourceSpecs.values()) {
      if (!["gmail", "calendar", "youtube"].includes(spec.platform)) continue;
      expect(
        sim.state.data.dataset(sim.state.data.account("google", "early"), spec).items,
        spec.name,
      ).toEqual(fresh.data.dataset(fresh.data.account("google", "early"), spec).items);
    }
  });

  it("keeps a connection's data across grants (a reconnect sees the same mailbox) and forgets it on reset", async () => {
    const sim = await startSimulator();
    const first = await sim.control.createGrant({ provider: "google", connectionKey: "re" });
    await sim.control.addData("gmail", "messages", { connectionKey: "re", count: 3 });
    const url = `${sim.control.apiUrl("gmail")}/gmail/v1/users/me/profile`;
    const profile = (await apiGet<{ historyId: string; messagesTotal: number }>(url, first.accessToken)).json;
    await sim.control.revoke({ connectionKey: "re" });
    const second = await sim.control.createGrant({ provider: "google", connectionKey: "re" });
    expect((await apiGet(url, second.accessToken)).json).toEqual(profile);
    expect(await sim.control.dataStats()).toMatchObject({ accounts: 1, pinned: 1 });
    await sim.control.reset();
    expect(await sim.control.dataStats()).toMatchObject({ accounts: 0, pinned: 0 });
  });

  it("validates control calls: unknown resources, missing or unknown connections, duplicates", async () => {
    const sim = await startSimulator();
    await sim.control.createGrant({ provider: "discord", connectionKey: "d" });
    await sim.control.createGrant({ provider: "github", connectionKey: "both" });
    await sim.control.createGrant({ provider: "github-app", connectionKey: "both" });
    await expect(
      sim.control.addData("discord", "channels" as "guilds", { connectionKey: "d" }),
    ).rejects.toMatchObject({ status: 404, message: expect.stringContaining("discord.guilds") });
    await expect(sim.control.addData("discord", "guilds", {})).rejects.toMatchObject({ status: 400 });
    await expect(sim.control.addData("gmail", "messages", { connectionKey: "d" })).rejects.toMatchObject({
      status: 404,
    });
    const unknownField = await fetch(`${sim.url}/_control/data/discord/guilds`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ connectionKey: "d", items: [{ colour: "red" }] }),
    });
    expect(unknownField.status).toBe(400);
    expect(await unknownField.json()).toMatchObject({
      issues: [{ field: "items.0.colour", reason: "unknown field" }],
    });
    const [guild] = (await sim.control.addData("discord", "guilds", { connectionKey: "d" })).items as Array<{
      id: string;
    }>;
    await expect(
      sim.control.addData("discord", "guilds", { connectionKey: "d", items: [{ id: guild?.id }] }),
    ).rejects.toMatchObject({ status: 409 });
    await expect(sim.control.addData("github", "repos", { connectionKey: "both" })).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining("pass provider"),
    });
    expect(
      (await sim.control.addData("github", "repos", { connectionKey: "both", provider: "github-app" }))
        .provider,
    ).toBe("github-app");
    await expect(
      sim.control.setParticipants({ connectionKey: "d", participants: ["not an address"] }),
    ).rejects.toMatchObject({ status: 400 });
  });
});
