/**
 * The journal through the token service's own NATS user, on a nats-server with the generated
 * configuration: it writes, reads (ephemeral ordered consumers) and deletes entries of
 * TOKEN_JOURNAL, and no other service can read it.
 */
import { randomUUID } from "node:crypto";
import { type Bus, createBus } from "@syncwell/bus";
import { createLogger } from "@syncwell/telemetry";
import { type SecuredNats, startSecuredNats } from "@syncwell/testing";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cipherFor, randomKey } from "../testing/fixtures.ts";
import { type RotatedAnswer, RotationJournal } from "./rotation-journal.ts";

const logger = createLogger({ service: "journal-test", level: "silent" });
const cipher = cipherFor({ k1: randomKey() }, "k1");
let nats: SecuredNats;
const buses: Bus[] = [];

async function journalAs(user: string): Promise<RotationJournal> {
  const bus = await createBus({
    servers: nats.url,
    prefix: nats.prefix,
    name: user,
    logger,
    registry: new Registry(),
    streamOverrides: { maxBytes: 16 * 1024 * 1024 },
    ...nats.credentials(user),
  });
  buses.push(bus);
  await bus.provision();
  return new RotationJournal({ js: bus.js, jsm: bus.jsm, naming: bus.naming, cipher, logger });
}

function answer(connectionId: string): RotatedAnswer {
  return {
    connectionId,
    userId: randomUUID(),
    provider: "google",
    usedRefreshToken: "old-refresh",
    accessToken: "new-access",
    refreshToken: "new-refresh",
    receivedAt: new Date().toISOString(),
  };
}

beforeAll(async () => {
  nats = await startSecuredNats("journal");
});

afterAll(async () => {
  for (const bus of buses) await bus.close();
  await nats?.stop();
});

describe("the rotation journal with the token service's NATS user", () => {
  it("records, reads and removes entries", async () => {
    const journal = await journalAs("token-service");
    const a = randomUUID();
    const b = randomUUID();
    const seqA = await journal.record([answer(a)]);
    await journal.record([answer(b)]);
    expect((await journal.pending()).map((e) => e.answers.map((x) => x.connectionId))).toEqual([[a], [b]]);
    expect((await journal.pendingFor([a])).map((e) => e.seq)).toEqual([seqA]);
    await journal.remove(seqA);
    // A second removal (two replicas applied the same message) is not an error.
    await journal.remove(seqA);
    expect(await journal.size()).toBe(1);
    expect(nats.log()).not.toMatch(/Violation/i);
  });

  it("is closed to other services", async () => {
    const journal = await journalAs("poller");
    await expect(journal.record([answer(randomUUID())])).rejects.toThrow(/permission/i);
    await expect(journal.pending()).rejects.toThrow(/permission/i);
  });
});
