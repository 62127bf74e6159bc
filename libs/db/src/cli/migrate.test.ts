import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createTestDatabase, testAdminUrl } from "@syncwell/testing";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { withDatabaseName } from "../database-url.ts";

const cli = fileURLToPath(new URL("./migrate.ts", import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(env: Record<string, string | undefined>, args: string[] = []): Promise<Run> {
  const { DATABASE_URL: _ignored, ...inherited } = process.env;
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [cli, ...args], {
      env: { ...inherited, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

describe("db:migrate CLI", () => {
  it("names DATABASE_URL when it is missing or malformed, without echoing it", async () => {
    const missing = await run({});
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("DATABASE_URL is not set");

    const malformed = await run({ DATABASE_URL: "mysql://root:s3cret@db/app" });
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toContain("DATABASE_URL must start with postgresql://");
    expect(malformed.stderr).not.toContain("s3cret");
  });

  it("migrates, then reports the database up to date", async () => {
    const db = await createTestDatabase({ migrate: false });
    try {
      const first = await run({ DATABASE_URL: db.url });
      expect(first.stderr).toBe("");
      expect(first.code).toBe(0);
      expect(first.stdout).toMatch(/applying migration \d+_init/);
      expect(first.stdout).toMatch(/applied [1-9]\d* migration\(s\)/);

      const second = await run({ DATABASE_URL: db.url });
      expect(second.code).toBe(0);
      expect(second.stdout).toContain("database is up to date");
    } finally {
      await db.drop();
    }
  });

  it("--create-database creates a missing database first", async () => {
    const name = `syncwell_test_cli_${randomBytes(4).toString("hex")}`;
    const adminUrl = testAdminUrl();
    try {
      const result = await run({ DATABASE_URL: withDatabaseName(adminUrl, name) }, ["--create-database"]);
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      expect(result.stdout).toContain("created database");
    } finally {
      const admin = new pg.Client({ connectionString: adminUrl });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
      await admin.end();
    }
  });

  it("exits non-zero when a migration fails", async () => {
    const db = await createTestDatabase({ migrate: false });
    try {
      const result = await run({ DATABASE_URL: db.url }, ["--migrations-dir", "/nonexistent/migrations"]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(
        "migration failed: cannot read migrations folder /nonexistent/migrations",
      );
    } finally {
      await db.drop();
    }
  });
});
