import { createHash } from "node:crypto";
import { appendFile, cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createTestDatabase, type TestDatabase } from "@syncwell/testing";
import { afterEach, describe, expect, it } from "vitest";
import { defaultMigrationsDir, MigrationError, migrate, readMigrations } from "./migrate.ts";

const databases: TestDatabase[] = [];
const tempDirs: string[] = [];

async function emptyDatabase(): Promise<TestDatabase> {
  const db = await createTestDatabase({ migrate: false });
  databases.push(db);
  return db;
}

async function tempMigrations(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "syncwell-migrations-"));
  tempDirs.push(dir);
  for (const [name, sql] of Object.entries(files)) {
    await mkdir(path.join(dir, name));
    await writeFile(path.join(dir, name, "migration.sql"), sql);
  }
  return dir;
}

async function tableExists(db: TestDatabase, table: string): Promise<boolean> {
  const { rows } = await db.pool.query<{ name: string | null }>("SELECT to_regclass($1)::text AS name", [
    table,
  ]);
  return rows[0]?.name != null;
}

afterEach(async () => {
  await Promise.all(databases.splice(0).map((db) => db.drop()));
  await Promise.all(tempDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

describe("migrate", () => {
  it("applies every migration, recording it as Prisma does, and a second run is a no-op", async () => {
    const db = await emptyDatabase();
    const migrations = await readMigrations();
    expect(migrations.length).toBeGreaterThan(0);

    const first = await migrate({ databaseUrl: db.url });
    expect(first).toEqual({ applied: migrations.map((m) => m.name), alreadyApplied: 0 });
    for (const table of ["users", "connections", "outbox_events", "processed_events", "job_runs"]) {
      expect(await tableExists(db, table)).toBe(true);
    }

    const { rows } = await db.pool.query<{
      migration_name: string;
      checksum: string;
      finished_at: Date | null;
      rolled_back_at: Date | null;
      applied_steps_count: number;
    }>(`SELECT migration_name, checksum, finished_at, rolled_back_at, applied_steps_count
          FROM "_prisma_migrations" ORDER BY migration_name`);
    const initFile = path.join(defaultMigrationsDir, migrations[0]?.name ?? "", "migration.sql");
    const expectedChecksum = createHash("sha256")
      .update(await readFile(initFile))
      .digest("hex");
    expect(rows[0]).toMatchObject({
      migration_name: migrations[0]?.name,
      checksum: expectedChecksum,
      rolled_back_at: null,
      applied_steps_count: 1,
    });
    expect(rows[0]?.finished_at).toBeInstanceOf(Date);
    expect(rows).toHaveLength(migrations.length);

    const second = await migrate({ databaseUrl: db.url });
    expect(second).toEqual({ applied: [], alreadyApplied: migrations.length });
    const { rows: after } = await db.pool.query(`SELECT 1 FROM "_prisma_migrations"`);
    expect(after).toHaveLength(migrations.length);
  });

  it("lets two concurrent runs on a fresh database both succeed, applying each migration once", async () => {
    const db = await emptyDatabase();
    const names = (await readMigrations()).map((m) => m.name);
    const logs: string[] = [];
    const logger = { info: (_obj: object, msg?: string) => logs.push(msg ?? "") };

    const [a, b] = await Promise.all([
      migrate({ databaseUrl: db.url, logger }),
      migrate({ databaseUrl: db.url, logger }),
    ]);

    expect([...a.applied, ...b.applied]).toEqual(names);
    expect(a.applied.length === 0 || b.applied.length === 0).toBe(true);
    expect(a.alreadyApplied + b.alreadyApplied).toBe(names.length);
    const { rows } = await db.pool.query<{ migration_name: string }>(
      `SELECT migration_name FROM "_prisma_migrations"`,
    );
    expect(rows.map((r) => r.migration_name).sort()).toEqual(names);
  });

  it("refuses an applied migration whose file changed, naming it", async () => {
    const db = await emptyDatabase();
    const dir = await mkdtemp(path.join(tmpdir(), "syncwell-migrations-"));
    tempDirs.push(dir);
    await cp(defaultMigrationsDir, dir, { recursive: true });
    await migrate({ databaseUrl: db.url, migrationsDir: dir });

    const [first] = await readMigrations(dir);
    if (!first) throw new Error("no migration");

    // Line endings converted by a checkout are not an edit (Prisma compares the same way).
    await writeFile(first.file, first.sql.replaceAll("\n", "\r\n"));
    await expect(migrate({ databaseUrl: db.url, migrationsDir: dir })).resolves.toMatchObject({
      applied: [],
    });

    await appendFile(first.file, "\r\n-- edited after it was applied\r\n");

    const error = await migrate({ databaseUrl: db.url, migrationsDir: dir }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as MigrationError).migration).toBe(first.name);
    expect((error as Error).message).toContain(`migration ${first.name} was modified after it was applied`);
  });

  it("rolls a failing migration back, records the attempt, names the file, and retries it next time", async () => {
    const db = await emptyDatabase();
    const dir = await tempMigrations({
      "0001_ok": `CREATE TABLE "first_table" (id INT PRIMARY KEY);`,
      "0002_broken": `CREATE TABLE "half_done" (id INT PRIMARY KEY);\nINSERT INTO "nowhere" VALUES (1);\n`,
    });

    const error = await migrate({ databaseUrl: db.url, migrationsDir: dir }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(MigrationError);
    const message = (error as Error).message;
    expect(message).toContain("migration 0002_broken failed and was rolled back");
    expect(message).toContain(path.join(dir, "0002_broken", "migration.sql"));
    expect(message).toContain('relation "nowhere" does not exist');
    expect(message).toContain("at line 2");

    expect(await tableExists(db, "first_table")).toBe(true);
    expect(await tableExists(db, "half_done")).toBe(false);
    const { rows } = await db.pool.query<{
      finished_at: Date | null;
      rolled_back_at: Date | null;
      logs: string;
    }>(
      `SELECT finished_at, rolled_back_at, logs FROM "_prisma_migrations" WHERE migration_name = '0002_broken'`,
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]?.finished_at).toBeNull();
    expect(rows[0]?.rolled_back_at).toBeInstanceOf(Date);
    expect(rows[0]?.logs).toContain("nowhere");

    await writeFile(
      path.join(dir, "0002_broken", "migration.sql"),
      `CREATE TABLE "half_done" (id INT PRIMARY KEY);\n`,
    );
    const retried = await migrate({ databaseUrl: db.url, migrationsDir: dir });
    expect(retried).toEqual({ applied: ["0002_broken"], alreadyApplied: 1 });
    expect(await tableExists(db, "half_done")).toBe(true);
  });

  it("refuses to run past a failure Prisma left unresolved", async () => {
    const db = await emptyDatabase();
    const dir = await tempMigrations({ "0001_ok": `CREATE TABLE "t" (id INT);` });
    await migrate({ databaseUrl: db.url, migrationsDir: dir });
    await db.pool.query(
      `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at)
       VALUES (gen_random_uuid()::text, 'x', '0000_crashed', now())`,
    );

    await expect(migrate({ databaseUrl: db.url, migrationsDir: dir })).rejects.toThrow(
      /migration 0000_crashed failed earlier/,
    );
  });

  it("names the folder when it cannot be read", async () => {
    const db = await emptyDatabase();
    const missing = path.join(tmpdir(), "syncwell-no-such-migrations");
    await expect(migrate({ databaseUrl: db.url, migrationsDir: missing })).rejects.toThrow(missing);
  });
});
