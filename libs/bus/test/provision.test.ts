import { streams } from "@syncwell/contracts";
import { afterAll, describe, expect, it } from "vitest";
import { type Bus, createBus } from "../src/index.ts";
import { createTestNats, silentLogger, testBus } from "./helpers.ts";

const nats = createTestNats("provision");
const buses: Bus[] = [];

afterAll(async () => {
  await Promise.allSettled(buses.map((b) => b.close()));
  await nats.cleanup();
});

describe("provisioning", () => {
  it("lets several replicas create the same streams and durable consumer at once", async () => {
    const replicas = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => testBus(nats, `replica-${i}`)));
    buses.push(...replicas);
    await Promise.all(replicas.map((b) => b.provision()));
    await Promise.all(replicas.map((b) => b.provision())); // and again: a restart
    const consumers = await Promise.all(
      replicas.map((b) =>
        b.consume({
          durable: "provision-race",
          stream: "tokens",
          filterSubject: "token.failed",
          handlers: {},
        }),
      ),
    );
    const [first] = replicas as [Bus];
    const names: string[] = [];
    for await (const name of first.jsm.streams.names())
      if (name.startsWith(nats.prefix.toUpperCase())) names.push(name);
    expect(names.sort()).toEqual(
      Object.values(streams)
        .map((s) => first.naming.stream(s))
        .sort(),
    );
    const info = await first.jsm.consumers.info(first.naming.stream(streams.tokens), "provision-race");
    expect(info.config.filter_subject).toBe(first.naming.subject("token.failed"));
    await Promise.all(consumers.map((c) => c.stop()));
  });

  it("updates a stream whose limits changed in configuration", async () => {
    const bus = await createBus({
      servers: nats.url,
      prefix: nats.prefix,
      name: "reconfigured",
      logger: silentLogger,
      streamOverrides: { ...nats.streamOverrides, maxBytes: 32 * 1024 * 1024 },
    });
    buses.push(bus);
    await bus.provision();
    const info = await bus.jsm.streams.info(bus.naming.stream(streams.data));
    expect(info.config.max_bytes).toBe(32 * 1024 * 1024);
  });

  it("says which stream is missing when a consumer starts before provisioning", async () => {
    const other = createTestNats("unprovisioned");
    const bus = await createBus({
      servers: other.url,
      prefix: other.prefix,
      name: "early",
      logger: silentLogger,
    });
    buses.push(bus);
    await expect(
      bus.consume({ durable: "too-early", stream: "tokens", filterSubject: "token.failed", handlers: {} }),
    ).rejects.toThrow(/stream .*_TOKENS does not exist; provision streams/);
  });

  it("names the stream and the conflict when another stream already holds its subjects", async () => {
    const other = createTestNats("overlap");
    const bus = await testBus(other, "overlap");
    buses.push(bus);
    const tokens = bus.naming.subject("token.failed");
    await bus.jsm.streams.add({ name: `${other.prefix.toUpperCase()}_SQUATTER`, subjects: [tokens] });
    try {
      await expect(bus.provision()).rejects.toThrow(
        new RegExp(
          `could not provision stream ${bus.naming.stream(streams.tokens)} .*after 5 attempt\\(s\\): .*overlap`,
        ),
      );
    } finally {
      await other.cleanup();
    }
  });
});
