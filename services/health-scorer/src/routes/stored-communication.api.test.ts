// A contact added after its mail was ingested still gets its history: creating a contact, changing
// its address or bulk upserting contacts links the Gmail messages and Calendar events the poller
// stored before, by the poller's rules, and the first score counts them. The service as it runs
// (runService, real HTTP, Postgres and NATS), with records stored as the poller stores them.
import { randomUUID } from "node:crypto";
import { createPrismaClient, withCommunicationLinksShared } from "@syncwell/db";
import { type RunningServiceOf, runService } from "@syncwell/service";
import {
  createTestDatabase,
  createTestNats,
  settlesWithin,
  type TestDatabase,
  type TestNats,
  testServiceOptions,
} from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  linkStoredCommunication,
  prefilterAddresses,
} from "../repositories/stored-communication.repository.ts";
import { healthScorerService } from "../service.ts";
import { API_KEY, apiRequest, createUser, startTestApi } from "../testing/api.ts";
import { createGoogleConnection, storeEvent, storeMessage, storeRecord } from "../testing/stored-records.ts";
import type { BulkResponse } from "./bulk-results.ts";
import type { ContactView } from "./contact-view.ts";
import type { HealthView } from "./get-health.route.ts";

let db: TestDatabase;
let nats: TestNats;
let service: RunningServiceOf<typeof healthScorerService>;

beforeAll(async () => {
  db = await createTestDatabase();
  nats = createTestNats("health-linking");
  service = await runService(
    healthScorerService,
    await testServiceOptions(db, nats, { HEALTH_API_KEYS: API_KEY }),
  );
});

afterAll(async () => {
  await service?.stop("test done");
  await nats?.cleanup();
  await db?.drop();
});

async function send<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await apiRequest(service.url, method, path, body);
  return { status: res.status, body: (await res.json()) as T };
}

type EventRow = {
  rawRecordId: string;
  connectionId: string;
  userId: string;
  channel: string;
  direction: string;
  occurredAt: Date;
};

async function eventsOf(contactId: string): Promise<EventRow[]> {
  const { rows } = await db.pool.query<EventRow>(
    `SELECT raw_record_id::text AS "rawRecordId", connection_id::text AS "connectionId", user_id::text AS "userId",
            channel, direction, occurred_at AS "occurredAt"
     FROM communication_events WHERE contact_id = $1 ORDER BY occurred_at`,
    [contactId],
  );
  return rows;
}

const byRecord = (rows: EventRow[]) =>
  Object.fromEntries(rows.map((row) => [row.rawRecordId, `${row.channel} ${row.direction}`]));

/**
 * A user whose Gmail address (the connection's account) is not their Syncwell email, with mail and
 * meetings stored before any contact: with Ann (both ways), with Bob (Ann only copied), a meeting
 * Bob organised that Ann attended, and what must never link: a draft, spam, a deleted message, one
 * of unknown time, a cancelled meeting, another platform's record.
 */
async function mailbox() {
  const userId = await createUser(db.pool);
  const { rows } = await db.pool.query<{ email: string }>("SELECT email FROM users WHERE id = $1", [userId]);
  const me = rows[0]?.email as string;
  const gmail = `me.${randomUUID().slice(0, 8)}@gmail.com`;
  const connectionId = await createGoogleConnection(db.pool, userId, gmail);
  const ann = `ann.${randomUUID().slice(0, 8)}@example.com`;
  const bob = `bob.${randomUUID().slice(0, 8)}@corp.io`;
  const Ann = `"Lee, Ann" <${ann.replace("ann", "Ann").toUpperCase()}>`;
  const store = (fields: Parameters<typeof storeMessage>[2]) => storeMessage(db.pool, connectionId, fields);
  const records = {
    fromAnn: await store({ from: Ann, to: [`Me <${gmail}>`], daysAgo: 5 }),
    toAnn: await store({ from: gmail, to: [ann], cc: [bob], labelIds: ["SENT"], daysAgo: 4 }),
    // Sent from the user's Syncwell address (not labelled SENT): outbound too.
    toAnnAgain: await store({ from: me, to: [Ann, ann], cc: [ann], daysAgo: 3 }),
    fromBob: await store({ from: bob, to: [gmail, ann], daysAgo: 2 }),
    meeting: await storeEvent(db.pool, connectionId, { organizer: bob, attendees: [ann, gmail], daysAgo: 1 }),
    draft: await store({ from: gmail, to: [ann], labelIds: ["DRAFT"], daysAgo: 1 }),
    spam: await store({ from: Ann, to: [gmail], labelIds: ["SPAM", "UNREAD"], daysAgo: 1 }),
    deleted: await store({ from: Ann, to: [gmail], daysAgo: 1, deleted: true }),
    timeless: await store({ from: Ann, to: [gmail], daysAgo: 1, timeless: true }),
    cancelled: await storeEvent(db.pool, connectionId, {
      organizer: gmail,
      organizerIsSelf: true,
      attendees: [ann],
      status: "cancelled",
      daysAgo: 1,
    }),
    youtube: await storeRecord(db.pool, connectionId, {
      platform: "youtube",
      resource: "activities",
      externalId: randomUUID(),
      payload: { snippet: { description: `mail ${ann}` } },
      occurredAt: new Date(),
    }),
  };
  return { userId, connectionId, me, gmail, ann, bob, records };
}

describe("a contact created after its communication was stored", () => {
  it("gets its emails and meetings, with their direction, and its first score counts them", async () => {
    const box = await mailbox();
    // Another user's mail with the same person never reaches this user's contact.
    const stranger = await createUser(db.pool);
    const strangerConnection = await createGoogleConnection(db.pool, stranger, "someone@gmail.com");
    await storeMessage(db.pool, strangerConnection, { from: box.ann, to: ["someone@gmail.com"], daysAgo: 1 });

    const created = await send<ContactView>("POST", `/v1/users/${box.userId}/contacts`, {
      email: `Ann Lee <${box.ann}>`,
    });
    expect(created.status).toBe(201);
    const events = await eventsOf(created.body.id);
    expect(byRecord(events)).toEqual({
      [box.records.fromAnn]: "email inbound",
      [box.records.toAnn]: "email outbound",
      [box.records.toAnnAgain]: "email outbound",
      [box.records.meeting]: "meeting inbound",
    });
    expect(new Set(events.map((e) => `${e.userId} ${e.connectionId}`))).toEqual(
      new Set([`${box.userId} ${box.connectionId}`]),
    );
    const { rows } = await db.pool.query<{ occurredAt: Date }>(
      `SELECT occurred_at AS "occurredAt" FROM raw_records WHERE id = $1`,
      [box.records.meeting],
    );
    expect(events.at(-1)?.occurredAt).toEqual(rows[0]?.occurredAt);

    const health = await send<HealthView>(
      "GET",
      `/v1/users/${box.userId}/health/contact/${created.body.id}?history=5`,
    );
    expect(health.status).toBe(200);
    const component = (name: string) =>
      (health.body.components as Array<{ name: string; value: number; detail: string }>).find(
        (c) => c.name === name,
      );
    expect(component("reciprocity")?.detail).toMatch(/^2 inbound, 2 outbound in \d+ days$/);
    expect(component("recency")?.value).toBeCloseTo(1, 1);
    expect(health.body.history).toHaveLength(1);
  });

  it("waits for a page of the user's mail the poller is writing, and links it once written", async () => {
    const box = await mailbox();
    // A page write under way, as the poller's page writer runs one: the user's lock held shared.
    let finish!: () => void;
    let stored!: (id: string) => void;
    const inFlight = new Promise<string>((resolve) => {
      stored = resolve;
    });
    const write = withCommunicationLinksShared(db.pool, [box.userId], async (page) => {
      stored(await storeMessage(page, box.connectionId, { from: box.ann, to: [box.gmail], daysAgo: 1 }));
      await new Promise<void>((resolve) => {
        finish = resolve;
      });
    });
    const record = await inFlight;

    const created = send<ContactView>("POST", `/v1/users/${box.userId}/contacts`, { email: box.ann });
    expect(await settlesWithin(created, 300)).toBe(false);
    finish();
    await write;

    const contact = await created;
    expect(contact.status).toBe(201);
    expect(byRecord(await eventsOf(contact.body.id))).toMatchObject({ [record]: "email inbound" });
  });

  it("links nothing when no stored record involves it", async () => {
    const box = await mailbox();
    const created = await send<ContactView>("POST", `/v1/users/${box.userId}/contacts`, {
      email: "nobody@example.com",
    });
    expect(created.status).toBe(201);
    expect(await eventsOf(created.body.id)).toEqual([]);
  });
});

describe("the log", () => {
  it("says how many events a write linked, and from how many records", async () => {
    const box = await mailbox();
    const api = await startTestApi(db.pool);
    try {
      const url = `/v1/users/${box.userId}/contacts`;
      expect((await api.call({ method: "POST", url, payload: { email: box.ann } })).statusCode).toBe(201);
      const bulk = { items: [{ externalId: "crm-bob", email: box.bob }] };
      expect((await api.call({ method: "POST", url: `${url}:bulk-upsert`, payload: bulk })).statusCode).toBe(
        200,
      );
      const lines = api
        .logText()
        .split("\n")
        .filter((line) => line !== "")
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(lines.find((line) => line.msg === "contact created")).toMatchObject({
        level: "info",
        unlinked: 0,
        linked: 4,
        recordsRead: expect.any(Number),
      });
      expect(lines.find((line) => line.msg === "stored communication linked to contacts")).toMatchObject({
        contacts: 1,
        linked: 3,
      });
    } finally {
      await api.close();
    }
  });
});

describe("a contact whose address changes", () => {
  it("loses the old address's events and gains the new one's; other changes leave them", async () => {
    const box = await mailbox();
    const created = await send<ContactView>("POST", `/v1/users/${box.userId}/contacts`, { email: box.ann });
    expect(await eventsOf(created.body.id)).toHaveLength(4);

    const url = `/v1/users/${box.userId}/contacts/${created.body.id}`;
    expect((await send("PATCH", url, { email: box.bob.toUpperCase() })).status).toBe(200);
    const relinked = await eventsOf(created.body.id);
    expect(byRecord(relinked)).toEqual({
      [box.records.toAnn]: "email outbound",
      [box.records.fromBob]: "email inbound",
      [box.records.meeting]: "meeting inbound",
    });

    const { rows: before } = await db.pool.query(
      "SELECT id FROM communication_events WHERE contact_id = $1 ORDER BY id",
      [created.body.id],
    );
    expect((await send("PATCH", url, { name: "Bob Jones" })).status).toBe(200);
    expect((await send("PATCH", url, { email: box.bob })).status).toBe(200);
    const { rows: after } = await db.pool.query(
      "SELECT id FROM communication_events WHERE contact_id = $1 ORDER BY id",
      [created.body.id],
    );
    expect(after).toEqual(before);
  });

  it("rescores the open deals it is linked to, as it does when the contact is deleted", async () => {
    const box = await mailbox();
    const contact = await send<ContactView>("POST", `/v1/users/${box.userId}/contacts`, {
      email: "nobody@example.com",
    });
    const deal = await send<{ id: string }>("POST", `/v1/users/${box.userId}/deals`, {
      name: "Renewal",
      stage: "proposal",
      contactIds: [contact.body.id],
    });
    expect(deal.status).toBe(201);
    const activity = async () => {
      const health = await send<HealthView>("GET", `/v1/users/${box.userId}/health/deal/${deal.body.id}`);
      const components = health.body.components as Array<{ name: string; value: number | null }>;
      return components.find((c) => c.name === "activityRecency")?.value ?? null;
    };
    const quiet = await activity();

    // Ann's mail, the latest a day old, becomes the deal's activity.
    const moved = await send("PATCH", `/v1/users/${box.userId}/contacts/${contact.body.id}`, {
      email: box.ann,
    });
    expect(moved.status).toBe(200);
    const active = await activity();
    expect(active).toBeGreaterThan(quiet ?? 0);
    // An address without mail: the deal loses that activity again.
    const silent = await send("PATCH", `/v1/users/${box.userId}/contacts/${contact.body.id}`, {
      email: "nobody.else@example.com",
    });
    expect(silent.status).toBe(200);
    expect(await activity()).toEqual(quiet);
    await send("PATCH", `/v1/users/${box.userId}/contacts/${contact.body.id}`, { email: box.ann });
    expect(await activity()).toEqual(active);

    const deleted = await apiRequest(
      service.url,
      "DELETE",
      `/v1/users/${box.userId}/contacts/${contact.body.id}`,
    );
    expect(deleted.status).toBe(204);
    expect(await activity()).toEqual(quiet);
  });
});

describe("a bulk upsert", () => {
  it("links each contact it creates or readdresses, reading the user's records once when they are many", async () => {
    const box = await mailbox();
    const first = await send<BulkResponse>("POST", `/v1/users/${box.userId}/contacts:bulk-upsert`, {
      items: [
        { externalId: "crm-ann", email: box.ann },
        { externalId: "crm-x", email: "x@example.com" },
      ],
    });
    expect(first.status).toBe(200);
    const id = (key: string, response: BulkResponse): string => {
      const result = response.results.find((r) => r.externalId === key);
      return result && "id" in result ? result.id : "";
    };
    const annId = id("crm-ann", first.body);
    expect(await eventsOf(annId)).toHaveLength(4);

    // Past the prefilter's limit: every stored record is read and matched in memory.
    const others = Array.from({ length: 25 }, (_, i) => ({
      externalId: `crm-${i}`,
      email: `other-${i}@example.com`,
    }));
    const second = await send<BulkResponse>("POST", `/v1/users/${box.userId}/contacts:bulk-upsert`, {
      items: [
        { externalId: "crm-ann", email: box.ann, name: "Ann Lee" },
        { externalId: "crm-x", email: box.bob },
        { externalId: "crm-me", email: box.me },
        ...others,
      ],
    });
    expect(second.status).toBe(200);
    expect(await eventsOf(annId)).toHaveLength(4);
    expect(byRecord(await eventsOf(id("crm-x", second.body)))).toEqual({
      [box.records.toAnn]: "email outbound",
      [box.records.fromBob]: "email inbound",
      [box.records.meeting]: "meeting inbound",
    });
    // The user's own address is never a counterpart.
    expect(await eventsOf(id("crm-me", second.body))).toEqual([]);
  });
});

describe("linkStoredCommunication", () => {
  it("links a record once however often it names the contact or is linked, read either way", async () => {
    const box = await mailbox();
    const contactId = randomUUID();
    await db.pool.query("INSERT INTO contacts (id, user_id, email) VALUES ($1, $2, $3)", [
      contactId,
      box.userId,
      box.ann,
    ]);
    const prisma = createPrismaClient(db.pool);
    try {
      const fillers = Array.from({ length: 30 }, (_, i) => ({
        id: randomUUID(),
        email: `filler-${i}@example.com`,
      }));
      for (const contacts of [
        [{ id: contactId, email: box.ann }],
        [{ id: contactId, email: box.ann }, ...fillers],
      ]) {
        const outcome = await prisma.$transaction((tx) => linkStoredCommunication(tx, box.userId, contacts));
        expect(outcome.linked).toBe(4);
        expect(await eventsOf(contactId)).toHaveLength(4);
      }
    } finally {
      await prisma.$disconnect();
    }
    expect(byRecord(await eventsOf(contactId))[box.records.toAnnAgain]).toBe("email outbound");
  });

  it("prefilters only addresses whose text a stored payload holds as it is written", () => {
    expect(prefilterAddresses(["ann@example.com", "o'brien+crm@x.io"])).toEqual([
      "ann@example.com",
      "o'brien+crm@x.io",
    ]);
    expect(prefilterAddresses(['"a b"@x.io'])).toBeNull();
    expect(prefilterAddresses(["zoë@example.de"])).toBeNull();
    expect(prefilterAddresses(Array.from({ length: 21 }, (_, i) => `a${i}@x.io`))).toBeNull();
  });

  it("finds an address written with a Kelvin sign, as JavaScript lowercases it", async () => {
    const box = await mailbox();
    await storeMessage(db.pool, box.connectionId, {
      from: "\u212Aate <\u212Aate@example.com>",
      to: [box.gmail],
      daysAgo: 1,
    });
    const created = await send<ContactView>("POST", `/v1/users/${box.userId}/contacts`, {
      email: "kate@example.com",
    });
    expect(created.status).toBe(201);
    expect(await eventsOf(created.body.id)).toHaveLength(1);
  });
});
