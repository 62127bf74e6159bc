import { createHash, randomUUID } from "node:crypto";
import type { Dirent } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";

/**
 * Applies `prisma/migrations/<name>/migration.sql` in name order, bookkeeping in Prisma's own
 * `_prisma_migrations` table (same columns, same sha256 checksums), so an environment that has the
 * Prisma schema engine sees the same history with `prisma migrate status|deploy`.
 *
 * Why not `prisma migrate deploy`: its schema engine is a native binary that is not available
 * everywhere Syncwell runs (and is heavy for a migration Job image); this needs only `pg`.
 *
 * Differences from Prisma, on purpose:
 * - each migration runs inside one transaction together with its history row, so a failure leaves
 *   nothing half-applied; the failed attempt is recorded with `rolled_back_at` set (which is what
 *   `prisma migrate resolve --rolled-back` would write) and the next run retries it. Consequently a
 *   migration must not contain statements that refuse to run in a transaction
 *   (`CREATE INDEX CONCURRENTLY`, `ALTER TYPE ... ADD VALUE` before PG 12, ...).
 * - a checksum mismatch of an applied migration is an error, not a warning.
 */

export interface MigrateLogger {
  info(obj: object, msg?: string): void;
}

export interface MigrateOptions {
  databaseUrl: string;
  /** Defaults to this package's `prisma/migrations`. */
  migrationsDir?: string;
  logger?: MigrateLogger;
}

export interface MigrateResult {
  /** Names of the migrations applied by this call, in order. */
  applied: string[];
  /** How many migrations of the folder were already applied before this call. */
  alreadyApplied: number;
}

export interface MigrationFile {
  /** Folder name, e.g. `20261122000000_init`; Prisma's `migration_name`. */
  name: string;
  /** Absolute path of the migration.sql. */
  file: string;
  sql: string;
  /** sha256 hex of the file's bytes, as Prisma computes it. */
  checksum: string;
}

/** An error about one migration; the message names it (and its file where one is involved). */
export class MigrationError extends Error {
  readonly migration: string;
  constructor(migration: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MigrationError";
    this.migration = migration;
  }
}

export const defaultMigrationsDir: string = fileURLToPath(new URL("../prisma/migrations", import.meta.url));

/**
 * The key Prisma's schema engine takes with `pg_advisory_lock` while migrating. Using the same one
 * serialises this runner with a concurrent `prisma migrate deploy` as well as with itself.
 */
const MIGRATION_LOCK_KEY = 72707369;

// Prisma's own DDL for the table (schema-engine, postgres flavour), kept identical.
const CREATE_MIGRATIONS_TABLE = `
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             TIMESTAMPTZ,
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          TIMESTAMPTZ,
    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_steps_count     INTEGER NOT NULL DEFAULT 0
)`;

interface HistoryRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
}

const silentLogger: MigrateLogger = { info() {} };

/** Reads the migrations folder: one sub-folder per migration holding a `migration.sql`, in name order. */
export async function readMigrations(migrationsDir: string = defaultMigrationsDir): Promise<MigrationFile[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(migrationsDir, { withFileTypes: true });
  } catch (err) {
    throw new Error(`cannot read migrations folder ${migrationsDir}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const names = entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  return Promise.all(
    names.map(async (name) => {
      const file = path.join(migrationsDir, name, "migration.sql");
      let bytes: Buffer;
      try {
        bytes = await readFile(file);
      } catch (err) {
        throw new MigrationError(
          name,
          `migration ${name} has no readable ${file}: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
      return {
        name,
        file,
        sql: bytes.toString("utf8"),
        checksum: createHash("sha256").update(bytes).digest("hex"),
      };
    }),
  );
}

/**
 * Brings the database up to date. Safe to call from every replica at start: callers queue on an
 * advisory lock, and whoever comes second finds nothing left to do.
 */
export async function migrate(options: MigrateOptions): Promise<MigrateResult> {
  const logger = options.logger ?? silentLogger;
  const migrations = await readMigrations(options.migrationsDir ?? defaultMigrationsDir);

  const client = new pg.Client({
    connectionString: options.databaseUrl,
    application_name: "syncwell-migrate",
  });
  // A connection dropped while we wait on the lock would otherwise surface as an uncaught 'error'.
  client.on("error", () => {});
  await client.connect();
  try {
    await acquireLock(client, logger);
    try {
      return await applyPending(client, migrations, logger);
    } finally {
      // Ending the session releases the lock too; a failing unlock must not hide the real error.
      await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]).catch(() => {});
    }
  } finally {
    await client.end();
  }
}

async function acquireLock(client: pg.Client, logger: MigrateLogger): Promise<void> {
  const { rows } = await client.query<{ locked: boolean }>("SELECT pg_try_advisory_lock($1) AS locked", [
    MIGRATION_LOCK_KEY,
  ]);
  if (rows[0]?.locked) return;
  logger.info({ lockKey: MIGRATION_LOCK_KEY }, "another process is migrating; waiting for it to finish");
  await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
}

async function applyPending(
  client: pg.Client,
  migrations: MigrationFile[],
  logger: MigrateLogger,
): Promise<MigrateResult> {
  await client.query(CREATE_MIGRATIONS_TABLE);
  const { rows: history } = await client.query<HistoryRow>(
    `SELECT migration_name, checksum, finished_at, rolled_back_at
       FROM "_prisma_migrations" ORDER BY started_at`,
  );

  // A row neither finished nor rolled back is a failure Prisma left behind outside a transaction
  // (this runner never leaves one). The database may be half-migrated: refuse, as Prisma does.
  const unresolved = history.find((row) => row.finished_at === null && row.rolled_back_at === null);
  if (unresolved) {
    throw new MigrationError(
      unresolved.migration_name,
      `migration ${unresolved.migration_name} failed earlier and may be partly applied; fix the database, then ` +
        `mark it with \`prisma migrate resolve --rolled-back ${unresolved.migration_name}\` (or set rolled_back_at)`,
    );
  }

  const applied = new Map<string, HistoryRow>();
  for (const row of history) {
    if (row.finished_at !== null && row.rolled_back_at === null) applied.set(row.migration_name, row);
  }

  const local = new Set(migrations.map((m) => m.name));
  for (const name of applied.keys()) {
    if (!local.has(name)) {
      logger.info(
        { migration: name },
        `migration ${name} is applied in the database but missing from the folder`,
      );
    }
  }

  const result: MigrateResult = { applied: [], alreadyApplied: 0 };
  for (const migration of migrations) {
    const row = applied.get(migration.name);
    if (row) {
      if (!checksumMatches(migration, row.checksum)) {
        throw new MigrationError(
          migration.name,
          `migration ${migration.name} was modified after it was applied (checksum of ${migration.file} is ` +
            `${migration.checksum}, the database recorded ${row.checksum}); add a new migration instead of editing it`,
        );
      }
      result.alreadyApplied += 1;
      continue;
    }
    logger.info({ migration: migration.name }, `applying migration ${migration.name}`);
    const started = performance.now();
    await applyOne(client, migration);
    const durationMs = Math.round(performance.now() - started);
    logger.info(
      { migration: migration.name, durationMs },
      `applied migration ${migration.name} in ${durationMs} ms`,
    );
    result.applied.push(migration.name);
  }
  return result;
}

async function applyOne(client: pg.Client, migration: MigrationFile): Promise<void> {
  const id = randomUUID();
  try {
    await client.query("BEGIN");
    await client.query(
      `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count)
       VALUES ($1, $2, $3, now(), 0)`,
      [id, migration.checksum, migration.name],
    );
    // No parameters: the simple query protocol runs the whole multi-statement script.
    await client.query(migration.sql);
    await client.query(
      `UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1`,
      [id],
    );
    await client.query("COMMIT");
  } catch (err) {
    const reason = describeSqlError(err, migration.sql);
    const fail = (extra = "") =>
      new MigrationError(
        migration.name,
        `migration ${migration.name} failed and was rolled back (${migration.file}): ${reason}${extra}`,
        { cause: err },
      );
    try {
      await client.query("ROLLBACK");
    } catch {
      // The connection is gone; Postgres rolls the transaction back by itself.
      throw fail(" (the failure could not be recorded: connection lost)");
    }
    await client.query(
      `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, logs, started_at, rolled_back_at, applied_steps_count)
       VALUES ($1, $2, $3, $4, now(), now(), 0)`,
      [id, migration.checksum, migration.name, reason],
    );
    throw fail();
  }
}

/**
 * As Prisma compares: the file as it is, or with its line endings switched either way, so a
 * checkout that converted LF to CRLF (or back) is not taken for an edited migration.
 */
function checksumMatches(migration: MigrationFile, recorded: string): boolean {
  if (migration.checksum === recorded) return true;
  const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
  return (
    sha256(migration.sql.replaceAll("\r\n", "\n")) === recorded ||
    sha256(migration.sql.replaceAll("\n", "\r\n")) === recorded
  );
}

/** The Postgres message, its SQLSTATE and the line of the script it points at, when it does. */
function describeSqlError(err: unknown, sql: string): string {
  if (!(err instanceof Error)) return String(err);
  const pgErr = err as Error & { code?: string; position?: string };
  let text = err.message;
  if (pgErr.code) text += ` [SQLSTATE ${pgErr.code}]`;
  const position = Number(pgErr.position);
  if (Number.isInteger(position) && position > 0) {
    const line = sql.slice(0, position - 1).split("\n").length;
    text += ` at line ${line}`;
  }
  return text;
}
