// enqueueEvents inside a Prisma interactive transaction: the same row as through `pg`, written on
// the transaction's connection, so it exists if and only if the transaction commits.

import { createPrismaClient, type PrismaClient, withTransaction } from "@syncwell/db";
import { createTestDatabase, type TestDatabase } from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { enqueueEvents } from "../src/outbox/enqueue.ts";
import { refreshedEvent } from "./helpers.ts";

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

async function stored(id: string) {
  const { rows } = await db.pool.query(
    "SELECT subject, type, payload, trace_headers, source, published_at FROM outbox_events WHERE id = $1",
    [id],
  );
  return rows;
}

describe("enqueueEvents through Prisma", () => {
  it("stores the row a pg client would, when the transaction commits", async () => {
    const viaPrisma = refreshedEvent();
    const viaPg = refreshedEvent();
    await prisma.$transaction(async (tx) => {
      await enqueueEvents(tx, viaPrisma);
    });
    await withTransaction(db.pool, (client) => enqueueEvents(client, viaPg));

    const [row] = await stored(viaPrisma.id);
    expect(row).toEqual({
      subject: "token.refreshed",
      type: "token.refreshed",
      payload: JSON.parse(JSON.stringify(viaPrisma)),
      trace_headers: {},
      source: "test",
      published_at: null,
    });
    const [pgRow] = await stored(viaPg.id);
    expect({ ...pgRow, payload: undefined }).toEqual({ ...row, payload: undefined });
  });

  it("stores nothing when the transaction rolls back", async () => {
    const event = refreshedEvent();
    await expect(
      prisma.$transaction(async (tx) => {
        await enqueueEvents(tx, event);
        throw new Error("business rule failed");
      }),
    ).rejects.toThrow("business rule failed");
    expect(await stored(event.id)).toEqual([]);
  });
});
