import { createServer, type Socket } from "node:net";
import { createTestDatabase, type TestDatabase } from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPool } from "./pool.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

describe("createPool limits", () => {
  it("names its sessions and cancels a statement past the statement timeout", async () => {
    const pool = createPool(db.url, { applicationName: "pool-limits-test", statementTimeoutMs: 200 });
    try {
      const { rows } = await pool.query<{ name: string; timeout: string }>(
        "SELECT current_setting('application_name') AS name, current_setting('statement_timeout') AS timeout",
      );
      expect(rows[0]).toEqual({ name: "pool-limits-test", timeout: "200ms" });
      await expect(pool.query("SELECT pg_sleep(2)")).rejects.toMatchObject({ code: "57014" });
      // The connection stays usable after the cancel.
      expect((await pool.query<{ one: number }>("SELECT 1 AS one")).rows[0]?.one).toBe(1);
    } finally {
      await pool.end();
    }
  });

  it("gives up opening a connection to a server that never answers after the connect timeout", async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const address = silent.address();
    const port = typeof address === "object" && address ? address.port : 0;
    const pool = createPool(`postgresql://postgres@127.0.0.1:${port}/postgres`, { connectTimeoutMs: 300 });
    const started = Date.now();
    try {
      await expect(pool.query("SELECT 1")).rejects.toThrow(/timeout/i);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await pool.end();
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});
