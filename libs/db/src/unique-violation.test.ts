import { randomUUID } from "node:crypto";
import { createTestDatabase, type TestDatabase } from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PrismaClient } from "./generated/prisma/client.ts";
import { createPrismaClient } from "./prisma.ts";
import { uniqueViolation } from "./unique-violation.ts";

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

const rejection = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (err: unknown) => err,
  );

describe("uniqueViolation", () => {
  it("names the violated index of a pg error and of a Prisma Client error (real Postgres)", async () => {
    const email = `${randomUUID()}@example.com`;
    await db.pool.query("INSERT INTO users (id, email) VALUES ($1, $2)", [randomUUID(), email]);

    const fromPg = await rejection(
      db.pool.query("INSERT INTO users (id, email) VALUES ($1, $2)", [randomUUID(), email]),
    );
    expect(uniqueViolation(fromPg)).toBe("users_email_key");

    const fromPrisma = await rejection(prisma.user.create({ data: { email } }));
    expect(uniqueViolation(fromPrisma)).toBe("users_email_key");
  });

  it("is undefined for other errors", async () => {
    const checkFailed = await rejection(prisma.user.create({ data: { email: "Upper@Example.com" } }));
    expect(checkFailed).toBeInstanceOf(Error);
    expect(uniqueViolation(checkFailed)).toBeUndefined();
    expect(uniqueViolation(await rejection(db.pool.query("SELEC 1")))).toBeUndefined();
    expect(uniqueViolation(new Error("23505"))).toBeUndefined();
    expect(uniqueViolation(undefined)).toBeUndefined();
  });
});
