import { headers as natsHeaders } from "@nats-io/transport-node";
import type { EventOf } from "@syncwell/contracts";
import { capturingLogger, waitFor } from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Bus, DL_HEADERS, PermanentError, PublishValidationError } from "../src/index.ts";
import { createTestNats, readStream, refreshedEvent, sleep, testBus } from "./helpers.ts";

const nats = createTestNats("consumer");
let bus: Bus;

beforeAll(async () => {
  bus = await testBus(nats);
  await bus.provision();
});

afterAll(async () => {
  await bus?.close();
  await nats.cleanup();
});

const fastRetry = { maxDeliver: 3, initialDelayMs: 30, maxDelayMs: 100, factor: 2 };

/**
 * Waits until the durable has acked everything it was handed and nothing is left for it: from
 * then on the server delivers none of those messages again, so "it happened only once" can be
 * asserted without sleeping for a while and hoping.
 */
async function settled(durable: string, stream: string = "TOKENS") {
  return waitFor(async () => {
    const info = await bus.jsm.consumers.info(bus.naming.stream({ name: stream }), durable);
    const done =
      info.num_ack_pending === 0 &&
      info.num_pending === 0 &&
      info.ack_floor.stream_seq === info.delivered.stream_seq;
    return done && info;
  }, `${durable} to ack all it was given`);
}

/** The series of a counter for one consumer, as `{ labels, value }`. */
async function seriesOf(
  counter: Bus["metrics"]["handled"] | Bus["metrics"]["deadLettered"],
  consumer: string,
) {
  return (await counter.get()).values.filter((v) => v.labels.consumer === consumer);
}

describe("publish", () => {
  it("drops a duplicate publish of the same event and reports it as duplicate, not as an error", async () => {
    const event = refreshedEvent();
    const first = await bus.publish(event);
    const second = await bus.publish(event);
    expect(first.duplicate).toBe(false);
    expect(second.duplicate).toBe(true);
    expect(second.seq).toBe(first.seq);
  });

  it("refuses to publish an event that breaks its contract, naming the field", async () => {
    const event = refreshedEvent() as EventOf<"token.refreshed">;
    const bad = { ...event, data: { ...event.data, provider: "" } };
    await expect(bus.publish(bad)).rejects.toThrow(PublishValidationError);
    await expect(bus.publish(bad)).rejects.toThrow(/data\.provider/);
  });
});

/** The dead letters of one event from one consumer, once there is at least one. */
function deadLettersOf(consumer: string, eventId: string) {
  return waitFor(
    async () => {
      const found = (await readStream(bus, "deadLetter", 1, 0)).filter(
        (m) =>
          m.headers?.get(DL_HEADERS.consumer) === consumer &&
          m.headers?.get("Syncwell-DL-Msg-Id") === eventId,
      );
      return found.length > 0 && found;
    },
    `the dead letter of ${eventId} from ${consumer}`,
    { intervalMs: 100 },
  );
}

describe("consume", () => {
  it("dead-letters a malformed hand-published message with its reason and keeps consuming", async () => {
    const seen: string[] = [];
    const consumer = await bus.consume({
      durable: "malformed",
      stream: "tokens",
      filterSubject: "token.refreshed",
      retry: fastRetry,
      handlers: {
        "token.refreshed": async (e) => {
          seen.push(e.id);
        },
      },
    });
    const good = refreshedEvent() as EventOf<"token.refreshed">;
    const badByHand = { ...good, id: crypto.randomUUID(), data: { ...good.data, expiresAt: "tomorrow" } };
    const subject = bus.naming.subject("token.refreshed");
    const hdrs = natsHeaders();
    hdrs.set("X-Debug", "published by hand");
    await bus.js.publish(subject, JSON.stringify(badByHand), { headers: hdrs });
    await bus.js.publish(subject, "not json at all");
    await bus.publish(good);

    await waitFor(() => seen.includes(good.id), "the valid event after the bad ones");
    const letters = (await readStream(bus, "deadLetter", 2)).filter(
      (m) => m.headers?.get(DL_HEADERS.consumer) === "malformed",
    );
    expect(letters).toHaveLength(2);
    const [first, second] = letters;
    expect(first?.headers?.get(DL_HEADERS.reason)).toBe("invalid");
    expect(first?.headers?.get(DL_HEADERS.error)).toMatch(/data\.expiresAt/);
    expect(first?.headers?.get(DL_HEADERS.subject)).toBe("token.refreshed");
    expect(first?.headers?.get("X-Debug")).toBe("published by hand");
    expect(JSON.parse(new TextDecoder().decode(first?.data))).toEqual(badByHand);
    expect(second?.headers?.get(DL_HEADERS.error)).toMatch(/not JSON/);
    expect(consumer.running).toBe(true);

    // One label scheme in both counters: a message that did not validate has type "unknown".
    await settled("malformed");
    const dead = await seriesOf(bus.metrics.deadLettered, "malformed");
    expect(dead.map((v) => [v.labels.type, v.labels.reason, v.value])).toEqual([["unknown", "invalid", 2]]);
    const handled = await seriesOf(bus.metrics.handled, "malformed");
    expect(
      handled.filter((v) => v.labels.outcome === "dead_lettered").map((v) => [v.labels.type, v.value]),
    ).toEqual([["unknown", 2]]);
    await consumer.stop();
  });

  it("retries a handler that fails twice, then applies the event once", async () => {
    const attempts: number[] = [];
    let applied = 0;
    // The durable starts at the beginning of the stream: count only this test's event.
    const event = refreshedEvent();
    const consumer = await bus.consume({
      durable: "flaky",
      stream: "tokens",
      filterSubject: "token.refreshed",
      retry: fastRetry,
      handlers: {
        "token.refreshed": async (e, ctx) => {
          if (e.id !== event.id) return;
          attempts.push(ctx.deliveryCount);
          if (ctx.deliveryCount < 3) throw new Error("database blinked");
          applied++;
        },
      },
    });
    await bus.publish(event);
    await waitFor(() => applied >= 1, "the third delivery");
    await settled("flaky");
    expect(attempts).toEqual([1, 2, 3]);
    expect(applied).toBe(1);
    await consumer.stop();
  });

  it("logs failures that will be retried once per interval, not once per delivery", async () => {
    const { logger, lines } = capturingLogger();
    const logged = await testBus(nats, "logged", logger);
    const events = Array.from({ length: 30 }, () => refreshedEvent());
    const ids = new Set(events.map((e) => e.id));
    const applied = new Set<string>();
    const consumer = await logged.consume({
      durable: "blinking",
      stream: "tokens",
      filterSubject: "token.refreshed",
      concurrency: 8,
      retry: fastRetry,
      handlers: {
        "token.refreshed": async (e, ctx) => {
          if (!ids.has(e.id)) return;
          // Every event fails once, as all of them do while a database is away.
          if (ctx.deliveryCount === 1) throw new Error("connect ECONNREFUSED 127.0.0.1:5432");
          applied.add(e.id);
        },
      },
    });
    for (const event of events) await bus.publish(event);
    await waitFor(() => applied.size === events.length, "every event applied on its second delivery");
    await consumer.stop();
    await logged.close();
    const failures = lines.filter((l) => l.level >= 40);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({
      msg: "handling a message failed; it is retried later",
      consumer: "blinking",
      event_type: "token.refreshed",
      delivery: 1,
      err: { message: "connect ECONNREFUSED 127.0.0.1:5432" },
    });
    expect(ids.has(failures[0]?.event_id as string)).toBe(true);
    expect(
      lines.some((l) => /^handling a message works again after \d+ failures? in \d+ s$/.test(l.msg)),
    ).toBe(true);
  });

  it("dead-letters a handler that always fails after the configured deliveries", async () => {
    const event = refreshedEvent();
    const deliveries: number[] = [];
    const consumer = await bus.consume({
      durable: "doomed",
      stream: "tokens",
      filterSubject: "token.refreshed",
      retry: fastRetry,
      handlers: {
        "token.refreshed": async (e, ctx) => {
          if (e.id === event.id) deliveries.push(ctx.deliveryCount);
          throw new Error("provider said no");
        },
      },
    });
    await bus.publish(event);
    await waitFor(() => deliveries.length >= 3, "three deliveries");
    const letters = await deadLettersOf("doomed", event.id);
    await settled("doomed");
    expect(deliveries).toEqual([1, 2, 3]);
    expect(letters).toHaveLength(1);
    expect(letters[0]?.headers?.get(DL_HEADERS.reason)).toBe("handler");
    expect(letters[0]?.headers?.get(DL_HEADERS.deliveries)).toBe("3");
    expect(letters[0]?.headers?.get(DL_HEADERS.error)).toMatch(/provider said no/);
    await consumer.stop();
  });

  it("dead-letters at once on a PermanentError", async () => {
    const event = refreshedEvent();
    let calls = 0;
    const consumer = await bus.consume({
      durable: "permanent",
      stream: "tokens",
      filterSubject: "token.refreshed",
      retry: fastRetry,
      handlers: {
        "token.refreshed": async (e) => {
          if (e.id !== event.id) return;
          calls++;
          throw new PermanentError("connection does not exist");
        },
      },
    });
    await bus.publish(event);
    const letters = await deadLettersOf("permanent", event.id);
    expect(letters).toHaveLength(1);
    expect(letters[0]?.headers?.get(DL_HEADERS.reason)).toBe("permanent");
    expect(letters[0]?.headers?.get(DL_HEADERS.deliveries)).toBe("1");
    expect(letters[0]?.headers?.get(DL_HEADERS.error)).toBe("connection does not exist");
    expect(JSON.parse(new TextDecoder().decode(letters[0]?.data))).toEqual(event);
    // Acked, so never delivered again: the handler ran once.
    await settled("permanent");
    expect(calls).toBe(1);
    await consumer.stop();
  });

  it("lets two replicas of a durable split the work with nothing handled twice", async () => {
    const busB = await testBus(nats, "replica-b");
    const handledBy = new Map<string, string[]>();
    const record = (who: string) => async (e: { id: string }) => {
      handledBy.set(e.id, [...(handledBy.get(e.id) ?? []), who]);
      await sleep(2);
    };
    const durable = "split";
    const a = await bus.consume({
      durable,
      stream: "data",
      filterSubject: "data.ingested",
      concurrency: 4,
      handlers: { "data.ingested": record("a") },
    });
    const b = await busB.consume({
      durable,
      stream: "data",
      filterSubject: "data.ingested",
      concurrency: 4,
      handlers: { "data.ingested": record("b") },
    });
    const { createEvent } = await import("@syncwell/contracts");
    const total = 400;
    await Promise.all(
      Array.from({ length: total }, () =>
        bus.publish(
          createEvent(
            "data.ingested",
            {
              connectionId: crypto.randomUUID(),
              userId: crypto.randomUUID(),
              provider: "github",
              resource: "events",
              counts: { added: 1, updated: 0, unchanged: 0, deleted: 0 },
              cursor: null,
              communicationEventsCreated: 0,
              fullSync: false,
            },
            { source: "test" },
          ),
        ),
      ),
    );
    await waitFor(() => handledBy.size === total, `${total} events handled`, { timeoutMs: 20_000 });
    await settled(durable, "DATA");
    const twice = [...handledBy.values()].filter((who) => who.length > 1);
    const byA = [...handledBy.values()].filter((who) => who[0] === "a").length;
    expect(twice).toEqual([]);
    expect(byA).toBeGreaterThan(0);
    expect(byA).toBeLessThan(total);
    await a.stop();
    await b.stop();
    await busB.close();
  });

  it("drains on stop: the in-flight handler finishes and acks, nothing new starts", async () => {
    const { createEvent } = await import("@syncwell/contracts");
    const event = createEvent(
      "token.refresh-requested",
      {
        connectionId: crypto.randomUUID(),
        userId: crypto.randomUUID(),
        provider: "github",
        reason: "401 from /user",
      },
      { source: "test" },
    );
    let finished = false;
    let started = false;
    const consumer = await bus.consume({
      durable: "drain",
      stream: "tokens",
      filterSubject: "token.refresh-requested",
      handlers: {
        "token.refresh-requested": async () => {
          started = true;
          await sleep(500);
          finished = true;
        },
      },
    });
    await bus.publish(event);
    await waitFor(() => started, "the handler to start");
    await consumer.stop();
    expect(finished).toBe(true);
    await bus.nc.flush();
    const info = await bus.jsm.consumers.info(bus.naming.stream({ name: "TOKENS" }), "drain");
    expect(info.num_ack_pending).toBe(0);
    expect(info.ack_floor.stream_seq).toBe(info.delivered.stream_seq);
  });
});
