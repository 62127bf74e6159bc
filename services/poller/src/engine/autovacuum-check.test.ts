import { capturingLogger, createTestDatabase, type TestDatabase } from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkAutovacuum } from "./autovacuum-check.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

describe("checkAutovacuum", () => {
  it("reports the server's setting, and warns when autovacuum is off", async () => {
    const { rows } = await db.pool.query<{ autovacuum: string }>("SHOW autovacuum");
    const { logger, lines } = capturingLogger("warn");
    const on = await checkAutovacuum(db.pool, logger);
    expect(on).toBe(rows[0]?.autovacuum === "on");
    expect(lines.some((line) => line.msg.includes("autovacuum off"))).toBe(on === false);
  });

  it("says so when the setting cannot be read, and does not throw", async () => {
    const { logger, lines } = capturingLogger();
    const broken = { query: () => Promise.reject(new Error("connection refused")) };
    expect(await checkAutovacuum(broken as never, logger)).toBeNull();
    expect(lines.map((line) => line.msg).join("\n")).toContain(
      "could not read the server's autovacuum setting",
    );
  });
});
