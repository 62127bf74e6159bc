import { createLogger } from "@syncwell/telemetry";
import { createTestDatabase, type TestDatabase } from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkAutovacuum } from "./autovacuum-check.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

function capturingLogger() {
  const lines: string[] = [];
  const logger = createLogger({
    service: "poller-test",
    level: "warn",
    destination: { write: (line: string) => lines.push(line) },
  });
  return { logger, lines };
}

describe("checkAutovacuum", () => {
  it("reports the server's setting, and warns when autovacuum is off", async () => {
    const { rows } = await db.pool.query<{ autovacuum: string }>("SHOW autovacuum");
    const { logger, lines } = capturingLogger();
    const on = await checkAutovacuum(db.pool, logger);
    expect(on).toBe(rows[0]?.autovacuum === "on");
    expect(lines.some((line) => line.includes("autovacuum off"))).toBe(on === false);
  });

  it("says so when the setting cannot be read, and does not throw", async () => {
    const { logger, lines } = capturingLogger();
    const broken = { query: () => Promise.reject(new Error("connection refused")) };
    expect(await checkAutovacuum(broken as never, logger)).toBeNull();
    expect(lines.join("\n")).toContain("could not read the server's autovacuum setting");
  });
});
