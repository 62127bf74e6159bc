import { waitFor } from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Bus, DL_HEADERS } from "../src/index.ts";
import { createTestNats, readStream, refreshedEvent, testBus } from "./helpers.ts";

/** Where a new durable starts and a handler's time limit, against real JetStream. */

const nats = createTestNats("limits");
let bus: Bus;

beforeAll(async () => {
  bus = await testBus(nats);
  await bus.provision();
});

afterAll(async () => {
  await bus?.close();
  await nats.cleanup();
});

async function consumerInfo(durable: string, stream = "TOKENS") {
  return bus.jsm.consumers.info(bus.naming.stream({ name: stream }), durable);
}

describe("a new durable", () => {
  it("starts at new messages: history published before it existed is not replayed", async () => {
    const history = [refreshedEvent(), refreshedEvent(), refreshedEvent()];
    for (const e of history) await bus.publish(e);
    const seen: string[] = [];
    const consumer = await bus.consume({
      durable: "limits-new",
      stream: "tokens",
      filterSubject: "token.refreshed",
      handlers: { "token.refreshed": async (e) => void seen.push(e.id) },
    });
    const fresh = refreshedEvent();
    await bus.publish(fresh);
    await waitFor(() => seen.includes(fresh.id), "the event published after the consumer");
    // The consumer has been handed exactly one message: nothing of the history is pending either.
    const info = await consumerInfo("limits-new");
    expect(info.delivered.consumer_seq).toBe(1);
    expect(info.num_pending).toBe(0);
    expect(seen).toEqual([fresh.id]);
    await consumer.stop();
  });

  it("reads the stream's history when told to start at all (a documented option)", async () => {
    const before = refreshedEvent();
    await bus.publish(before);
    const seen = new Set<string>();
    const consumer = await bus.consume({
      durable: "limits-all",
      stream: "tokens",
      filterSubject: "token.refreshed",
      startAt: "all",
      handlers: { "token.refreshed": async (e) => void seen.add(e.id) },
    });
    await waitFor(() => seen.has(before.id), "an event published before the consumer existed");
    await consumer.stop();
  });
});

describe("a handler's time limit", () => {
  it("aborts a hung handler through its signal, retries, then dead-letters it, counting each timeout", async () => {
    const aborted: unknown[] = [];
    const consumer = await bus.consume({
      durable: "limits-hung",
      stream: "tokens",
      filterSubject: "token.refreshed",
      timeoutMs: 300,
      retry: { maxDeliver: 2, initialDelayMs: 50, maxDelayMs: 100 },
      handlers: {
        "token.refreshed": (_e, ctx) =>
          new Promise<void>((_resolve, reject) => {
            // A handler stuck on I/O that honours its signal, as a fetch or a query would.
            ctx.signal.addEventListener("abort", () => {
              aborted.push(ctx.signal.reason);
              reject(ctx.signal.reason);
            });
          }),
      },
    });
    const event = refreshedEvent();
    await bus.publish(event);
    const letters = await readStream(bus, "deadLetter", 1, 15_000);
    const letter = letters.find((m) => m.headers?.get(DL_HEADERS.consumer) === "limits-hung");
    expect(letter?.json<{ id: string }>().id).toBe(event.id);
    expect(letter?.headers?.get(DL_HEADERS.reason)).toBe("handler");
    expect(letter?.headers?.get(DL_HEADERS.error)).toContain("exceeded its time limit of 300 ms");
    expect(aborted).toHaveLength(2);
    const timeouts = (await bus.metrics.handlerTimeouts.get()).values.find(
      (v) => v.labels.consumer === "limits-hung",
    );
    expect(timeouts?.value).toBe(2);
    await consumer.stop();
  });

  it("does not wait for a handler that ignores its signal: the message is settled at the limit", async () => {
    let release: () => void = () => undefined;
    const consumer = await bus.consume({
      durable: "limits-deaf",
      stream: "tokens",
      filterSubject: "token.refreshed",
      timeoutMs: 200,
      retry: { maxDeliver: 1 },
      handlers: {
        "token.refreshed": () =>
          new Promise<void>((resolve) => {
            release = resolve;
          }),
      },
    });
    const event = refreshedEvent();
    await bus.publish(event);
    await waitFor(
      async () =>
        (await consumerInfo("limits-deaf")).num_ack_pending === 0 &&
        (await consumerInfo("limits-deaf")).delivered.consumer_seq === 1,
      "the message settled at the time limit",
      { timeoutMs: 5_000 },
    );
    release();
    await consumer.stop();
  });
});
