import type { JsMsg } from "@nats-io/jetstream";
import { type AnyEvent, createEvent, streams } from "@syncwell/contracts";
import pino from "pino";
import type { Bus } from "../src/index.ts";

export const silentLogger = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });

export { createTestBus as testBus, createTestNats } from "@syncwell/testing";

let counter = 0;
/** A valid token.refreshed event with a fresh id. */
export function refreshedEvent(overrides: Partial<{ connectionId: string }> = {}): AnyEvent {
  counter++;
  return createEvent(
    "token.refreshed",
    {
      connectionId: overrides.connectionId ?? crypto.randomUUID(),
      userId: crypto.randomUUID(),
      provider: "google",
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
      refreshTokenRotated: false,
      recovered: counter % 2 === 0,
      previousStatus: "connected",
    },
    { source: "test" },
  );
}

/** Reads every message currently in a stream (the dead letters, for example). */
export async function readStream(
  bus: Bus,
  key: keyof typeof streams,
  waitForAtLeast = 1,
  timeoutMs = 5_000,
): Promise<JsMsg[]> {
  const name = bus.naming.stream(streams[key]);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await bus.jsm.streams.info(name);
    if (info.state.messages >= waitForAtLeast || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const consumer = await bus.js.consumers.get(name);
  const out: JsMsg[] = [];
  const info = await bus.jsm.streams.info(name);
  for (let i = 0; i < info.state.messages; i++) {
    const m = await consumer.next({ expires: 2_000 });
    if (!m) break;
    out.push(m);
  }
  return out;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
