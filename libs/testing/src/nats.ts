import { randomBytes } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { type Bus, createBus, type StreamOverrides } from "@syncwell/bus";
import pino from "pino";
import { Registry } from "prom-client";

export const testNatsUrl = process.env.SYNCWELL_TEST_NATS_URL ?? "nats://127.0.0.1:4222";

/** Small, short-lived streams: test runs share the server with everything else on it. */
export const testStreamOverrides: StreamOverrides = {
  maxBytes: 64 * 1024 * 1024,
  maxAgeMs: 60 * 60 * 1000,
  storage: "file",
};

export type TestNats = {
  url: string;
  /** Deployment prefix unique to this test file (and run). */
  prefix: string;
  streamOverrides: StreamOverrides;
  /** Deletes every stream this prefix created. */
  cleanup(): Promise<void>;
};

/** A NATS prefix of its own for one test file; streams made under it are removed by cleanup(). */
export function createTestNats(label = "t"): TestNats {
  const prefix = `sw_${label.replace(/[^A-Za-z0-9]/g, "").slice(0, 12)}_${randomBytes(4).toString("hex")}`;
  return {
    url: testNatsUrl,
    prefix,
    streamOverrides: testStreamOverrides,
    async cleanup() {
      const nc = await connect({ servers: testNatsUrl });
      try {
        const jsm = await jetstreamManager(nc);
        const streamPrefix = `${prefix.toUpperCase()}_`;
        for await (const name of jsm.streams.names()) {
          if (name.startsWith(streamPrefix)) await jsm.streams.delete(name);
        }
      } finally {
        await nc.close();
      }
    },
  };
}

/**
 * A bus of the test's own on its NATS prefix: metrics in a registry of its own, logs silent unless
 * the test passes a logger (see `capturingLogger`) or sets TEST_LOG_LEVEL.
 */
export function createTestBus(
  nats: TestNats,
  name = "test",
  logger: pino.Logger = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }),
): Promise<Bus> {
  return createBus({
    servers: nats.url,
    prefix: nats.prefix,
    name,
    logger,
    registry: new Registry(),
    streamOverrides: nats.streamOverrides,
  });
}
