// The communication-links lock in Postgres: page writes (shared) never wait for each other, linking
// (exclusive) waits for the page writes of its user only, and a page write waits for linking.
import { randomUUID } from "node:crypto";
import { createTestDatabase, settlesWithin, type TestDatabase } from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lockCommunicationLinks, withCommunicationLinksShared } from "./communication-links-lock.ts";
import type { PrismaClient } from "./generated/prisma/client.ts";
import { createPrismaClient } from "./prisma.ts";

let db: TestDatabase;
let prisma: PrismaClient;

beforeAll(async () => {
  db = await createTestDatabase({ poolMax: 6 });
  prisma = createPrismaClient(db.url);
});

afterAll(async () => {
  await prisma?.$disconnect();
  await db?.drop();
});

/** A page write holding its users' locks shared until `commit` is called. */
async function pageWrite(userIds: string[]) {
  let commit!: () => void;
  let holding!: () => void;
  const held = new Promise<void>((resolve) => {
    holding = resolve;
  });
  const done = withCommunicationLinksShared(db.pool, userIds, async () => {
    holding();
    await new Promise<void>((resolve) => {
      commit = resolve;
    });
  });
  await Promise.race([held, done]);
  return {
    commit: () => {
      commit();
      return done;
    },
  };
}

/** Linking the user's contacts: resolves once it held the user's lock exclusively (and committed). */
function linking(userId: string): Promise<void> {
  return prisma.$transaction(async (tx) => {
    await lockCommunicationLinks(tx, userId);
  });
}

describe("communication-links lock", () => {
  it("lets page writes share users, and makes linking wait for its own user's page writes only", async () => {
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    const first = await pageWrite([b, a, b]);
    const second = await pageWrite([b, c]);

    expect(await settlesWithin(linking(a), 200)).toBe(false);
    const linkingC = linking(c);
    expect(await settlesWithin(linkingC, 200)).toBe(false);
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
    expect(await settlesWithin(write, 200)).toBe(false);
    commit();
    await linked;
    await (await write).commit();
  });

  it("runs a write that links nothing outside a transaction, and refuses an id that is not a uuid", async () => {
    const inTransaction = await withCommunicationLinksShared(db.pool, [], async (page) => {
      const { rows } = await page.query<{ open: boolean }>(
        "SELECT now() <> statement_timestamp() OR pg_current_xact_id_if_assigned() IS NOT NULL AS open",
      );
      return rows[0]?.open;
    });
    expect(inTransaction).toBe(false);
    await expect(
      withCommunicationLinksShared(db.pool, ["1}'::uuid[]); DROP TABLE users; --"], async () => 0),
    ).rejects.toThrow(/not a user id/);
  });
});
