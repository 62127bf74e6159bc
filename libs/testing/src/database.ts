import { createHash, randomBytes } from "node:crypto";
import { createPool, migrate, parseDatabaseUrl, readMigrations, withDatabaseName } from "@syncwell/db";
import pg from "pg";
import { waitFor } from "./wait.ts";

/**
 * A database of its own for each test file, on the shared Postgres named by
 * SYNCWELL_TEST_DATABASE_URL (an admin URL; default postgresql://postgres@127.0.0.1:5432/postgres).
 *
 * Speed: migrating a database costs far more than copying one, so the migrations are applied once
 * to a template database and every test database is a `CREATE DATABASE ... TEMPLATE` copy of it.
 *
 * Templates are named `syncwell_tpl_<hash of the migrations>` and kept between runs: the next run
 * (and every other test process) reuses the template while the migrations are unchanged, at the
 * cost of one small database left on the server. When the migrations change, the process that
 * builds the new template drops every other `syncwell_tpl_*` database (older templates and builds
 * that crashed half-way), so at most one template stays behind.
 *
 * Concurrency (several test processes, several runs): building and dropping templates happens
 * under an exclusive advisory lock; cloning takes the same lock shared, so a template is never
 * dropped while it is being copied. A template is built under another name and renamed once
 * migrated, so one that exists is always complete, and it refuses connections
 * (ALLOW_CONNECTIONS false) because a single session in it would make cloning fail.
 */

export interface TestDatabase {
  /** Connection URL of the new database. */
  url: string;
  /** Its name (`syncwell_test_<pid>_<random>`). */
  name: string;
  /** A small pool on it; closed by drop(). */
  pool: pg.Pool;
  /** Closes the pool and drops the database, ending any session still in it. Idempotent. */
  drop(): Promise<void>;
}

export interface TestDatabaseOptions {
  /** false: an empty database, no migrations applied (for testing the migration runner). Default true. */
  migrate?: boolean;
  /** Pool size (default 5). */
  poolMax?: number;
}

const DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres";
const TEST_PREFIX = "syncwell_test_";
const TEMPLATE_PREFIX = "syncwell_tpl_";
/** Advisory lock guarding template builds (exclusive) against clones (shared). Arbitrary, fixed. */
const TEMPLATE_LOCK_KEY = 7_336_130_563_441;

/** The admin URL test databases are created through (validated). */
export function testAdminUrl(): string {
  return parseDatabaseUrl(
    process.env.SYNCWELL_TEST_DATABASE_URL ?? DEFAULT_ADMIN_URL,
    "SYNCWELL_TEST_DATABASE_URL",
  ).toString();
}

/** Per process and admin URL: the template being (or already) prepared. */
const templates = new Map<string, Promise<string>>();

export async function createTestDatabase(options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  const adminUrl = testAdminUrl();
  const name = `${TEST_PREFIX}${process.pid}_${randomBytes(5).toString("hex")}`;

  if (options.migrate === false) {
    await withAdmin(adminUrl, (admin) => admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`));
  } else {
    await cloneFromTemplate(adminUrl, name);
  }

  const url = withDatabaseName(adminUrl, name);
  const pool = createPool(url, { max: options.poolMax ?? 5, applicationName: "syncwell-test" });
  let dropped: Promise<void> | undefined;
  const drop = () => {
    dropped ??= (async () => {
      await pool.end();
      await withAdmin(adminUrl, (admin) =>
        admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`),
      );
    })();
    return dropped;
  };
  return { url, name, pool, drop };
}

async function cloneFromTemplate(adminUrl: string, name: string): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    const template = await ensureTemplate(adminUrl);
    try {
      await withAdmin(adminUrl, async (admin) => {
        await admin.query("SELECT pg_advisory_lock_shared($1)", [TEMPLATE_LOCK_KEY]);
        try {
          await admin.query(
            `CREATE DATABASE ${pg.escapeIdentifier(name)} TEMPLATE ${pg.escapeIdentifier(template)}`,
          );
        } finally {
          await admin.query("SELECT pg_advisory_unlock_shared($1)", [TEMPLATE_LOCK_KEY]);
        }
      });
      return;
    } catch (err) {
      // 3D000: the template vanished (a run with other migrations replaced it). Build it again once.
      if ((err as { code?: string }).code !== "3D000" || attempt > 1) throw err;
      templates.delete(adminUrl);
    }
  }
}

function ensureTemplate(adminUrl: string): Promise<string> {
  let template = templates.get(adminUrl);
  if (!template) {
    template = buildTemplate(adminUrl);
    templates.set(adminUrl, template);
    template.catch(() => templates.delete(adminUrl));
  }
  return template;
}

async function buildTemplate(adminUrl: string): Promise<string> {
  const migrations = await readMigrations();
  const digest = createHash("sha256");
  for (const m of migrations) digest.update(`${m.name}\0${m.checksum}\n`);
  const template = `${TEMPLATE_PREFIX}${digest.digest("hex").slice(0, 16)}`;

  return withAdmin(adminUrl, async (admin) => {
    if (await databaseExists(admin, template)) return template;
    await admin.query("SELECT pg_advisory_lock($1)", [TEMPLATE_LOCK_KEY]);
    try {
      if (await databaseExists(admin, template)) return template; // another process built it meanwhile
      const { rows } = await admin.query<{ datname: string }>(
        "SELECT datname FROM pg_database WHERE starts_with(datname, $1) AND datname <> $2",
        [TEMPLATE_PREFIX, template],
      );
      for (const { datname } of rows) {
        await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(datname)} WITH (FORCE)`);
      }
      const building = `${template}_building`; // unique: we hold the exclusive lock
      await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(building)}`);
      await migrate({ databaseUrl: withDatabaseName(adminUrl, building) });
      await admin.query(
        `ALTER DATABASE ${pg.escapeIdentifier(building)} RENAME TO ${pg.escapeIdentifier(template)}`,
      );
      await admin.query(`ALTER DATABASE ${pg.escapeIdentifier(template)} ALLOW_CONNECTIONS false`);
      return template;
    } finally {
      await admin.query("SELECT pg_advisory_unlock($1)", [TEMPLATE_LOCK_KEY]);
    }
  });
}

async function databaseExists(admin: pg.Client, name: string): Promise<boolean> {
  const { rowCount } = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
  return (rowCount ?? 0) > 0;
}

async function withAdmin<T>(adminUrl: string, fn: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: adminUrl, application_name: "syncwell-test-admin" });
  admin.on("error", () => {}); // failures surface through the rejected query instead
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.end();
  }
}

/**
 * Benchmarks' statement diagnostics for the sessions a database's clients open from now on (a
 * process started afterwards): every statement to the Postgres server log (`logStatements`), and
 * the plans (EXPLAIN ANALYZE, auto_explain) of statements slower than `explainMs`.
 */
export async function logSlowStatements(
  db: Pick<TestDatabase, "pool" | "name">,
  options: { logStatements?: boolean; explainMs?: number | undefined },
): Promise<void> {
  const settings: string[] = [];
  if (options.logStatements) settings.push("log_min_duration_statement = 0");
  if (options.explainMs !== undefined) {
    if (!Number.isFinite(options.explainMs) || options.explainMs < 0)
      throw new Error("the explain threshold is a number of milliseconds");
    settings.push(
      "session_preload_libraries = 'auto_explain'",
      `auto_explain.log_min_duration = ${options.explainMs}`,
      "auto_explain.log_analyze = on",
      "auto_explain.log_buffers = on",
      "auto_explain.log_nested_statements = on",
    );
  }
  for (const setting of settings)
    await db.pool.query(`ALTER DATABASE ${pg.escapeIdentifier(db.name)} SET ${setting}`);
}

/**
 * Resolves once `waiters` sessions of this database wait for a lock (`wait_event_type = 'Lock'`):
 * for tests that hold a lock in one session and must know that others have come to wait for it.
 */
export async function waitForLockWait(
  db: Pick<TestDatabase, "pool">,
  what: string,
  waiters = 1,
): Promise<void> {
  await waitFor(async () => {
    const { rows } = await db.pool.query(
      "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    );
    return rows.length >= waiters;
  }, what);
}
