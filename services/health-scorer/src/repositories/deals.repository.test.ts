// The bulk upsert's original close date on a real database: the stored row's wins over what the
// caller read, so a read of the row that is out of date cannot move it.
import { createPrismaClient, type PrismaClient } from "@syncwell/db";
import { createTestDatabase, type TestDatabase } from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUser } from "../testing/api.ts";
import { type DealFields, upsertDealsByExternalId } from "./deals.repository.ts";

let db: TestDatabase;
let prisma: PrismaClient;

beforeAll(async () => {
  db = await createTestDatabase();
  prisma = createPrismaClient(db.pool);
});

afterAll(async () => {
  await prisma?.$disconnect();
  await db?.drop();
});

const jan = (day: number) => new Date(Date.UTC(2027, 0, day));

function item(
  expectedCloseAt: Date | null,
  originalExpectedCloseAt: Date | null,
): DealFields & { externalId: string } {
  return {
    externalId: "crm-1",
    name: "D",
    stage: "lead",
    stageEnteredAt: jan(1),
    expectedCloseAt,
    originalExpectedCloseAt,
    status: "open",
    closedAt: null,
    amount: null,
    currency: null,
  };
}

describe("upsertDealsByExternalId", () => {
  it("keeps the stored original close date while there is a close date, and takes the item's after none", async () => {
    const userId = await createUser(db.pool);
    const stored = async () => {
      const { rows } = await db.pool.query<{ original: Date | null }>(
        "SELECT original_expected_close_at AS original FROM deals WHERE user_id = $1",
        [userId],
      );
      return rows[0]?.original;
    };
    await upsertDealsByExternalId(prisma, userId, [item(jan(10), jan(10))]);
    expect(await stored()).toEqual(jan(10));
    // The caller read the row before another write set its close date: its original is not taken.
    await upsertDealsByExternalId(prisma, userId, [item(jan(30), jan(20))]);
    expect(await stored()).toEqual(jan(10));
    await upsertDealsByExternalId(prisma, userId, [item(null, null)]);
    expect(await stored()).toBeNull();
    await upsertDealsByExternalId(prisma, userId, [item(jan(25), jan(25))]);
    expect(await stored()).toEqual(jan(25));
  });
});
