/**
 * The generated NATS users on a nats-server of this file's own (the shared one stays
 * unauthenticated): a service can publish only what it produces, consume only what it consumes,
 * and the operator can do anything. Runs under a prefix, as a test deployment would.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  type AnyEvent,
  catalog,
  createEvent,
  eventTypes,
  natsInboxPrefix,
  streams,
} from "@syncwell/contracts";
import { type SecuredNats, startSecuredNats, waitFor } from "@syncwell/testing";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Bus, createBus, DL_HEADERS, PermanentError } from "../src/index.ts";
import { readStream, silentLogger } from "./helpers.ts";

let nats: SecuredNats;
let operator: Bus;
const opened: Array<{ close(): Promise<void> }> = [];

async function busAs(user: string): Promise<Bus> {
  const bus = await createBus({
    servers: nats.url,
    prefix: nats.prefix,
    name: user,
    logger: silentLogger,
    registry: new Registry(),
    streamOverrides: { maxBytes: 16 * 1024 * 1024, storage: "file" },
    ...nats.credentials(user),
  });
  opened.push(bus);
  return bus;
}

/** A plain nats.js connection as `user`, for what the bus would never do on its own. */
async function connectAs(user: string): Promise<NatsConnection> {
  const { password } = nats.credentials(user);
  const nc = await connect({ servers: nats.url, user, pass: password, inboxPrefix: natsInboxPrefix(user) });
  opened.push({ close: () => nc.close() });
  return nc;
}

function example(type: keyof typeof catalog): AnyEvent {
  const [first] = catalog[type].examples;
  if (!first) throw new Error(`${type} has no example`);
  // A fresh id: the examples' ids would be dropped as duplicates after the first test.
  return { ...first, id: crypto.randomUUID() } as AnyEvent;
}

beforeAll(async () => {
  nats = await startSecuredNats("acme");
  operator = await busAs("operator");
  await operator.provision();
});

afterAll(async () => {
  for (const c of opened.reverse()) await c.close().catch(() => undefined);
  await nats?.stop();
});

describe("a service's own user", () => {
  it("lets the scheduler list the tick consumers (its job-run sweeper) and nobody else", async () => {
    const ticks = operator.naming.stream(streams.ticks);
    const scheduler = await jetstreamManager(await connectAs("scheduler"), { timeout: 2_000 });
    const names: string[] = [];
    for await (const consumer of scheduler.consumers.list(ticks)) names.push(consumer.name);
    expect(Array.isArray(names)).toBe(true);
    const poller = await jetstreamManager(await connectAs("poller"), { timeout: 2_000 });
    await expect(
      (async () => {
        for await (const _ of poller.consumers.list(ticks)) break;
      })(),
    ).rejects.toThrow(/permission|timeout/i);
  });

  it("cannot publish subjects it does not own, and can publish what it produces", async () => {
    const nc = await connectAs("poller");
    const js = jetstream(nc, { timeout: 2_000 });
    await expect(js.publish("acme.tick.poll", "{}")).rejects.toThrow(/permission/i);
    await expect(js.publish("acme.token.failed", JSON.stringify(example("token.failed")))).rejects.toThrow(
      /permission/i,
    );
    // Without the prefix it is another deployment's subject: not the poller's either.
    await expect(js.publish("data.ingested", "{}")).rejects.toThrow(/permission/i);
    const ack = await js.publish("acme.data.ingested", JSON.stringify(example("data.ingested")));
    expect(ack.stream).toBe("ACME_DATA");
    expect(nats.log()).toMatch(/Publish Violation.*"poller".*acme\.tick\.poll|acme\.tick\.poll.*poller/i);
    const ticks = await operator.jsm.streams.info(operator.naming.stream(streams.ticks));
    expect(ticks.state.messages).toBe(0);
  });

  it("cannot delete a stream, read another service's inbox or a stream it does not consume", async () => {
    const nc = await connectAs("poller");
    const jsm = await jetstreamManager(nc, { timeout: 2_000 });
    await expect(jsm.streams.delete("ACME_TICKS")).rejects.toThrow(/permission/i);
    await expect(jsm.streams.purge("ACME_TOKENS")).rejects.toThrow(/permission/i);
    // The token service's journal and a durable of the token service are not the poller's.
    await expect(jsm.consumers.add("ACME_TOKEN_JOURNAL", { ack_policy: "none" })).rejects.toThrow(
      /permission/i,
    );
    await expect(jsm.consumers.info("ACME_TOKENS", "token-service-refresh-requests")).rejects.toThrow(
      /permission/i,
    );
    const errors: string[] = [];
    void (async () => {
      for await (const s of nc.status()) if (s.type === "error") errors.push(String(s.error));
    })();
    nc.subscribe("_INBOX.>");
    nc.subscribe("acme.token.>");
    await nc.flush();
    await waitFor(() => errors.length >= 2, "subscription violations");
    expect(errors.join("\n")).toMatch(/Permissions Violation for Subscription to "_INBOX\.>"/);
  });

  it("provisions, consumes, acks and dead-letters through the bus", async () => {
    const poller = await busAs("poller");
    const tokenService = await busAs("token-service");
    await poller.provision();
    const handled: string[] = [];
    const consumer = await poller.consume({
      durable: "poller-token-failed",
      stream: "tokens",
      filterSubject: "token.failed",
      retry: { maxDeliver: 2, initialDelayMs: 20, maxDelayMs: 50 },
      handlers: {
        "token.failed": async (event) => {
          if (event.data.errorCode === "poison") throw new PermanentError("poison");
          handled.push(event.id);
        },
      },
    });
    const good = example("token.failed");
    const poison = createEvent(
      "token.failed",
      { ...catalog["token.failed"].examples[0].data, errorCode: "poison" },
      { source: "token-service" },
    );
    await tokenService.publish(good);
    await tokenService.publish(poison);
    await waitFor(() => handled.includes(good.id), "the token.failed event handled by the poller");
    const [dead] = await readStream(operator, "deadLetter");
    expect(dead?.subject).toBe("acme.deadletter.poller-token-failed");
    expect(dead?.headers?.get(DL_HEADERS.reason)).toBe("permanent");
    // Acked: nothing is left pending on the durable.
    await waitFor(async () => {
      const info = await operator.jsm.consumers.info("ACME_TOKENS", "poller-token-failed");
      return info.num_ack_pending === 0 && info.num_pending === 0;
    }, "both messages acked");
    await consumer.stop();
    await expect(poller.publish(example("token.refreshed"))).rejects.toThrow(/permission/i);
  });
});

describe("the operator user", () => {
  it("can publish every event of the catalog", async () => {
    for (const type of eventTypes) {
      const result = await operator.publish(example(type));
      expect(result.duplicate, type).toBe(false);
    }
  });
});
