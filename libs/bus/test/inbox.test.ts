// The inbox of writers that apply many events in one transaction: every entry recorded in one
// statement, those applied before (or twice in the batch) left out, nothing kept on rollback.
import { randomUUID } from "node:crypto";
import { withTransaction } from "@syncwell/db";
import { createTestDatabase, type TestDatabase } from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { recordFirstApplications } from "../src/index.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

const entry = (consumer: string, id: string) => ({ consumer, id, type: "token.failed" });

describe("recordFirstApplications", () => {
  it("returns the entries not applied before, each once, in the order given", async () => {
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    expect(await recordFirstApplications(db.pool, [entry("x", a)])).toEqual([entry("x", a)]);
    const batch = [entry("x", c), entry("x", a), entry("x", b), entry("x", c), entry("y", a)];
    expect(await recordFirstApplications(db.pool, batch)).toEqual([
      entry("x", c),
      entry("x", b),
      entry("y", a),
    ]);
    expect(await recordFirstApplications(db.pool, batch)).toEqual([]);
  });

  it("keeps nothing when the caller's transaction rolls back", async () => {
    const id = randomUUID();
    await expect(
      withTransaction(db.pool, async (client) => {
        await recordFirstApplications(client, [entry("x", id)]);
        throw new Error("the effects failed");
      }),
    ).rejects.toThrow("the effects failed");
    expect(await recordFirstApplications(db.pool, [entry("x", id)])).toEqual([entry("x", id)]);
  });
});
