// The communication-links lock in Postgres: page writes (shared) never wait for each other, linking
// (exclusive) waits for the page writes of its user only, and a page write waits for linking.
import { randomUUID } from "node:crypto";
import { createTestDatabase, type TestDatabase } from "@syncwell/testing";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lockCommunicationLinks, lockCommunicationLinksShared } from "./communication-links-lock.ts";
import type { PrismaClient } from "./generated/prisma/client.ts";
import { createPrismaClient } from "./prisma.ts";

let db: TestDatabase;
let prisma: PrismaClient;
const open: pg.PoolClient[] = [];

beforeAll(async () => {
  db = await createTestDatabase({ poolMax: 6 });
  prisma = createPrismaClient(db.url);
});

afterAll(async () => {
  for (const client of open) client.release();
  await prisma?.$disconnect();
  await db?.drop();
});

/** A page write's transaction holding its users' locks shared; `commit` ends it. */
async function pageWrite(userIds: string[]) {
  const client = await db.pool.connect();
  open.push(client);
  await client.query("BEGIN");
  await lockCommunicationLinksShared(client, userIds);
  return { commit: () => client.query("COMMIT") };
}

/** Linking the user's contacts: resolves once it held the user's lock exclusively (and committed). */
function linking(userId: string): Promise<void> {
  return prisma.$transaction(async (tx) => {
    await lockCommunicationLinks(tx, userId);
  });
}

async function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  void promise.finally(() => {
    settled = true;
  });
  await new Promise((resolve) => setTimeout(resolve, ms));
  return settled;
}

describe("communication-links lock", () => {
  it("lets page writes share users, and makes linking wait for its own user's page writes only", async () => {
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    const first = await pageWrite([b, a, b]);
    const second = await pageWrite([b, c]);

    expect(await settledWithin(linking(a), 200)).toBe(false);
    const linkingC = linking(c);
    expect(await settledWithin(linkingC, 200)).toBe(false);
    await second.commit();
    await linkingC;
    await first.commit();
  });

  it("makes a page write wait for linking of one of its users", async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    let commit!: () => void;
    let held!: () => void;
    const holding = new Promise<void>((resolve) => {
      held = resolve;
    });
    const linked = prisma.$transaction(async (tx) => {
      await lockCommunicationLinks(tx, b);
      held();
      await new Promise<void>((resolve) => {
        commit = resolve;
      });
    });
    await holding;
    const write = pageWrite([a, b]);
    expect(await settledWithin(write, 200)).toBe(false);
    commit();
    await linked;
    await (await write).commit();
  });
});
