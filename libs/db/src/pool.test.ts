import { createTestDatabase, startTcpProxy, type TestDatabase, waitFor } from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkDatabase, createPool, databaseNow, withTransaction } from "./pool.ts";
import { createPrismaClient } from "./prisma.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

describe("createPool", () => {
  it("applies session settings to every connection, values with spaces and backslashes included", async () => {
    const pool = createPool(db.url, {
      max: 2,
      sessionSettings: { plan_cache_mode: "force_generic_plan", search_path: "public, pg_catalog" },
    });
    try {
      const [one, two] = await Promise.all([pool.connect(), pool.connect()]);
      for (const client of [one, two]) {
        const { rows } = await (client as NonNullable<typeof one>).query(
          "SELECT current_setting('plan_cache_mode') AS mode, current_setting('search_path') AS path",
        );
        expect(rows[0]).toEqual({ mode: "force_generic_plan", path: "public, pg_catalog" });
      }
      one?.release();
      two?.release();
    } finally {
      await pool.end();
    }
    expect(() => createPool(db.url, { sessionSettings: { "x -c y": "1" } })).toThrow(/not a setting name/);
  });
});

describe("databaseNow", () => {
  it("rounds the database's microseconds down or up to the millisecond, as asked", async () => {
    await withTransaction(db.pool, async (client) => {
      // now() is the transaction's start: the same instant for all three queries.
      const { rows } = await client.query<{ micros: string }>(
        "SELECT (extract(epoch FROM now()) * 1000000)::bigint::text AS micros",
      );
      const micros = BigInt(rows[0]?.micros ?? "0");
      const down = BigInt((await databaseNow(client, "down")).getTime()) * 1000n;
      const up = BigInt((await databaseNow(client, "up")).getTime()) * 1000n;
      expect(down).toBe((micros / 1000n) * 1000n);
      expect(up).toBe(micros % 1000n === 0n ? micros : down + 1000n);
    });
  });
});

describe("withTransaction", () => {
  it("commits what fn did and returns its result", async () => {
    const result = await withTransaction(db.pool, async (client) => {
      await client.query("INSERT INTO users (id, email) VALUES (gen_random_uuid(), 'commit@example.com')");
      return "done";
    });
    expect(result).toBe("done");
    const { rowCount } = await db.pool.query("SELECT 1 FROM users WHERE email = 'commit@example.com'");
    expect(rowCount).toBe(1);
  });

  it("rolls back and rethrows when fn throws, and returns the connection to the pool", async () => {
    const boom = new Error("boom");
    await expect(
      withTransaction(db.pool, async (client) => {
        await client.query(
          "INSERT INTO users (id, email) VALUES (gen_random_uuid(), 'rollback@example.com')",
        );
        throw boom;
      }),
    ).rejects.toBe(boom);
    const { rowCount } = await db.pool.query("SELECT 1 FROM users WHERE email = 'rollback@example.com'");
    expect(rowCount).toBe(0);
    expect(db.pool.waitingCount).toBe(0);
    expect(db.pool.idleCount).toBe(db.pool.totalCount);
  });

  it("rolls back when the database rejects a statement", async () => {
    await expect(
      withTransaction(db.pool, async (client) => {
        await client.query("INSERT INTO users (id, email) VALUES (gen_random_uuid(), 'dup@example.com')");
        await client.query("INSERT INTO users (id, email) VALUES (gen_random_uuid(), 'dup@example.com')");
      }),
    ).rejects.toThrow(/users_email_key/);
    const { rowCount } = await db.pool.query("SELECT 1 FROM users WHERE email = 'dup@example.com'");
    expect(rowCount).toBe(0);
  });
});

describe("createPool / checkDatabase", () => {
  it("sets the application name and answers the readiness check", async () => {
    const pool = createPool(db.url, { max: 2, applicationName: "syncwell-pool-test" });
    try {
      await checkDatabase(pool);
      const { rows } = await pool.query<{ name: string }>(
        "SELECT current_setting('application_name') AS name",
      );
      expect(rows[0]?.name).toBe("syncwell-pool-test");
    } finally {
      await pool.end();
    }
  });

  it("fails the readiness check when the server is unreachable", async () => {
    const pool = createPool("postgresql://postgres@127.0.0.1:1/postgres", { max: 1 });
    try {
      await expect(checkDatabase(pool, 1000)).rejects.toThrow();
    } finally {
      await pool.end();
    }
  });
});

describe("createPool when Postgres goes away", () => {
  it("survives the loss of idle and checked-out connections, and serves again once Postgres is back", async () => {
    const proxy = await startTcpProxy({ host: "127.0.0.1", port: Number(new URL(db.url).port || 5432) });
    const idleErrors: Error[] = [];
    const pool = createPool(proxy.rewrite(db.url), { max: 4, onError: (err) => idleErrors.push(err) });
    try {
      await Promise.all([1, 2, 3].map(() => pool.query("SELECT pg_sleep(0.05)")));
      // One client sits in a transaction between statements, one runs a statement, one is idle.
      const between = await pool.connect();
      await between.query("BEGIN");
      const busy = await pool.connect();
      // Its rejection is taken at once: it comes while the test waits for the idle error below.
      const running = busy.query("SELECT pg_sleep(5)").then(
        () => undefined,
        (err: unknown) => err,
      );
      proxy.cut();
      // An 'error' event without a listener would be an uncaught exception here, failing the run.
      await waitFor(() => idleErrors.length > 0, "the idle connection's error");
      expect(await running).toBeInstanceOf(Error);
      await expect(between.query("SELECT 1")).rejects.toThrow();
      await expect(checkDatabase(pool, 1_000)).rejects.toThrow();
      between.release();
      busy.release();

      proxy.restore();
      await checkDatabase(pool, 1_000);
      await withTransaction(pool, (client) => client.query("SELECT 1"));
      expect(pool.totalCount).toBeLessThanOrEqual(4);
    } finally {
      await pool.end();
      await proxy.close();
    }
  });
});

describe("createPrismaClient", () => {
  it("can share an existing pg pool", async () => {
    const prisma = createPrismaClient(db.pool);
    try {
      await prisma.user.create({ data: { email: "shared@example.com" } });
      const { rowCount } = await db.pool.query("SELECT 1 FROM users WHERE email = 'shared@example.com'");
      expect(rowCount).toBe(1);
    } finally {
      await prisma.$disconnect();
    }
    // $disconnect() leaves a shared pool open.
    await expect(db.pool.query("SELECT 1")).resolves.toBeDefined();
  });
});
