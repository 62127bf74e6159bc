// The page writer and a contact linked at the same moment (the health scorer creating a contact):
// a page write waits for a linking transaction of its user that holds the communication-links lock,
// so its statement sees the contact and links the page's mail to it; other users' pages do not wait.
import { randomUUID } from "node:crypto";
import { createPrismaClient, lockCommunicationLinks, type PrismaClient } from "@syncwell/db";
import { createTestDatabase, settlesWithin, type TestDatabase } from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type PageResult, type PageWrite, zeroTotals } from "../repositories/records.repository.ts";
import { createConnection, createUser, silentLogger, testCipher } from "../testing/fixtures.ts";
import { PageWriter } from "./page-writer.ts";

let db: TestDatabase;
let prisma: PrismaClient;

beforeAll(async () => {
  db = await createTestDatabase();
  prisma = createPrismaClient(db.url);
});

afterAll(async () => {
  await prisma?.$disconnect();
  await db?.drop();
});

/** A user with a Gmail connection whose messages poll holds the claim, and its first page: one mail from `from`. */
async function pageFrom(from: string): Promise<PageWrite> {
  const userId = await createUser(db.pool);
  const connectionId = await createConnection(db.pool, testCipher(), {
    userId,
    provider: "google",
    accessToken: "token",
  });
  await db.pool.query(
    `INSERT INTO sync_states (connection_id, platform, resource, claimed_by, claimed_until, poll_started_at)
     VALUES ($1, 'gmail', 'messages', 'replica/1', now() + interval '1 minute', now())`,
    [connectionId],
  );
  return {
    ref: { connectionId, platform: "gmail", resource: "messages" },
    claimToken: "replica/1",
    userId,
    records: [{ externalId: "m1", payloadJson: '{"snippet":"hello"}', occurredAt: new Date() }],
    communications: [
      {
        id: randomUUID(),
        externalId: "m1",
        email: from,
        channel: "email",
        direction: "inbound",
        occurredAt: new Date(),
      },
    ],
    before: zeroTotals(),
    skipped: 0,
    fullListing: false,
    pollStartedAt: new Date(),
    next: { pageToken: "p2", leaseMs: 60_000 },
    done: null,
  };
}

/**
 * A linking transaction as the scorer runs one: the user's lock taken exclusively, then a contact
 * written; it commits when `commit` is called.
 */
function linkingTransaction(userId: string, email: string) {
  let commit!: () => void;
  let locked!: () => void;
  const holding = new Promise<void>((resolve) => {
    locked = resolve;
  });
  const committed = prisma.$transaction(async (tx) => {
    await lockCommunicationLinks(tx, userId);
    await tx.$executeRaw`INSERT INTO contacts (id, user_id, email) VALUES (${randomUUID()}::uuid, ${userId}::uuid, ${email})`;
    locked();
    await new Promise<void>((resolve) => {
      commit = resolve;
    });
  });
  return { holding, committed, commit: () => commit() };
}

describe("page writer and contact linking", () => {
  it("waits for a contact of the page's user being linked, then links the page's mail to it", async () => {
    const ann = `ann.${randomUUID().slice(0, 8)}@example.com`;
    const page = await pageFrom(ann);
    const other = await pageFrom(ann);
    const linking = linkingTransaction(page.userId, ann);
    await linking.holding;
    const writer = new PageWriter(db.pool, silentLogger(), { maxBatch: 1 });

    const written = writer.write(page);
    // Another user's page is not held up by this user's lock.
    expect((await writer.write(other)).claimHeld).toBe(true);
    expect(await settlesWithin(written, 300)).toBe(false);

    linking.commit();
    await linking.committed;
    const result: PageResult = await written;
    expect(result.claimHeld).toBe(true);
    expect(result.page.communicationEvents).toBe(1);
    const { rows } = await db.pool.query<{ email: string }>(
      `SELECT c.email FROM communication_events e JOIN contacts c ON c.id = e.contact_id WHERE e.user_id = $1`,
      [page.userId],
    );
    expect(rows).toEqual([{ email: ann }]);
  });
});
