import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, testAdminUrl } from "./database.ts";

let admin: pg.Client;

async function databaseExists(name: string): Promise<boolean> {
  const { rowCount } = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
  return (rowCount ?? 0) > 0;
}

beforeAll(async () => {
  admin = new pg.Client({ connectionString: testAdminUrl() });
  await admin.connect();
});

afterAll(async () => {
  await admin?.end();
});

describe("createTestDatabase", () => {
  it("creates a migrated database of its own and drops it", async () => {
    const db = await createTestDatabase();
    expect(db.name).toMatch(/^syncwell_test_/);
    expect(await databaseExists(db.name)).toBe(true);

    const { rows } = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "_prisma_migrations" WHERE finished_at IS NOT NULL`,
    );
    expect(rows[0]?.n).toBeGreaterThan(0);
    await db.pool.query("INSERT INTO users (id, email) VALUES (gen_random_uuid(), 'fixture@example.com')");

    // A session left open by the test must not stop the drop.
    const straggler = new pg.Client({ connectionString: db.url });
    straggler.on("error", () => {});
    await straggler.connect();

    await db.drop();
    await db.drop(); // idempotent
    expect(await databaseExists(db.name)).toBe(false);
    await straggler.end().catch(() => {});
  });

  it("gives concurrent callers separate databases cloned from one template", async () => {
    const dbs = await Promise.all([createTestDatabase(), createTestDatabase(), createTestDatabase()]);
    try {
      expect(new Set(dbs.map((db) => db.name)).size).toBe(3);
      await dbs[0]?.pool.query(
        "INSERT INTO users (id, email) VALUES (gen_random_uuid(), 'only-here@example.com')",
      );
      const { rowCount } = (await dbs[1]?.pool.query("SELECT 1 FROM users")) ?? { rowCount: -1 };
      expect(rowCount).toBe(0);

      const { rows } = await admin.query<{ datname: string; datallowconn: boolean }>(
        "SELECT datname, datallowconn FROM pg_database WHERE starts_with(datname, 'syncwell_tpl_')",
      );
      expect(rows.length).toBeGreaterThanOrEqual(1);
      expect(rows.some((row) => !row.datallowconn && !row.datname.endsWith("_building"))).toBe(true);
    } finally {
      await Promise.all(dbs.map((db) => db.drop()));
    }
  });

  it("creates an empty database when asked not to migrate", async () => {
    const db = await createTestDatabase({ migrate: false });
    try {
      const { rows } = await db.pool.query<{ name: string | null }>(
        "SELECT to_regclass('_prisma_migrations')::text AS name",
      );
      expect(rows[0]?.name).toBeNull();
    } finally {
      await db.drop();
    }
  });
});
