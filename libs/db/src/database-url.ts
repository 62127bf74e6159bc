import pg from "pg";

/**
 * Checks that `value` is a usable Postgres URL and returns it parsed. Errors name `variable` and
 * never repeat the value (it usually carries a password).
 */
export function parseDatabaseUrl(value: string | undefined, variable = "DATABASE_URL"): URL {
  if (value === undefined || value.trim() === "") {
    throw new Error(`${variable} is not set (expected postgresql://user:password@host:5432/database)`);
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(
      `${variable} is not a valid URL (expected postgresql://user:password@host:5432/database)`,
    );
  }
  if (url.protocol !== "postgresql:" && url.protocol !== "postgres:") {
    throw new Error(`${variable} must start with postgresql:// or postgres:// (got ${url.protocol}//)`);
  }
  if (url.hostname === "" && !url.searchParams.has("host")) {
    throw new Error(`${variable} has no host (expected postgresql://user:password@host:5432/database)`);
  }
  if (databaseName(url) === "") {
    throw new Error(`${variable} names no database (expected postgresql://user:password@host:5432/database)`);
  }
  return url;
}

/** The URL with its password replaced by `***`, for logs and error messages. */
export function redactDatabaseUrl(value: string | URL): string {
  try {
    const url = new URL(value.toString());
    if (url.password) url.password = "***";
    return url.toString();
  } catch {
    return "(unparseable database URL)";
  }
}

/** The database a URL points at (decoded path without the leading slash). */
export function databaseName(url: string | URL): string {
  return decodeURIComponent(new URL(url.toString()).pathname.replace(/^\//, ""));
}

/** The same server and credentials, another database. */
export function withDatabaseName(url: string | URL, name: string): string {
  const next = new URL(url.toString());
  next.pathname = `/${encodeURIComponent(name)}`;
  return next.toString();
}

/**
 * Creates the database the URL names when it does not exist yet (connecting to the server's
 * `postgres` maintenance database to do so). Returns whether it created it. Concurrent callers are
 * fine: losing the race to create counts as "already there".
 */
export async function ensureDatabase(databaseUrl: string): Promise<boolean> {
  const name = databaseName(databaseUrl);
  const admin = new pg.Client({
    connectionString: withDatabaseName(databaseUrl, "postgres"),
    application_name: "syncwell-migrate",
  });
  await admin.connect();
  try {
    const { rowCount } = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (rowCount) return false;
    try {
      await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
      return true;
    } catch (err) {
      if ((err as { code?: string }).code === "42P04") return false; // duplicate_database
      throw err;
    }
  } finally {
    await admin.end();
  }
}
