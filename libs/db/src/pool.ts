import pg from "pg";
import { typeParsers } from "./timestamptz.ts";

/** Anything that runs a query: a pool, a checked-out client, a client inside a transaction. */
export type Queryable = Pick<pg.ClientBase, "query">;

export interface PoolOptions {
  /** Most connections the pool opens (pg's default: 10). */
  max?: number;
  /** Shown in `pg_stat_activity.application_name`; use the service name. */
  applicationName?: string;
  /**
   * Called when an idle pooled connection fails (server restart, network cut). The pool has
   * already discarded that connection and the next checkout opens a new one. During an outage
   * every idle connection fails at once: pass a throttled log (see `repeatedFailureLog`).
   */
  onError?: (err: Error) => void;
  /**
   * Postgres cancels a statement that runs longer (`statement_timeout`): a statement stuck behind a
   * lock or on a sick server fails instead of holding its connection and its caller forever.
   */
  statementTimeoutMs?: number;
  /** Time to open a connection before the checkout fails (pg waits forever by default). */
  connectTimeoutMs?: number;
  /** Settings of every session the pool opens (`SET` at connection start), e.g. `{ plan_cache_mode: "force_generic_plan" }`. */
  sessionSettings?: Readonly<Record<string, string>>;
}

export function createPool(databaseUrl: string, options: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    ...(options.max !== undefined && { max: options.max }),
    ...(options.applicationName !== undefined && { application_name: options.applicationName }),
    ...(options.statementTimeoutMs !== undefined && { statement_timeout: options.statementTimeoutMs }),
    ...(options.connectTimeoutMs !== undefined && { connectionTimeoutMillis: options.connectTimeoutMs }),
    ...(options.sessionSettings !== undefined && { options: sessionOptions(options.sessionSettings) }),
    // Timestamps read without node-postgres's regular expressions (parseTimestamptz).
    types: typeParsers,
    // A peer that vanished without closing the socket (a host gone, a dropped route) is noticed
    // by TCP keepalive instead of leaving the connection waiting forever.
    keepAlive: true,
  });
  // Without a listener Node treats an 'error' event as an uncaught exception and exits.
  pool.on("error", options.onError ?? (() => {}));
  pool.on("connect", (client) => client.on("error", ignoreCheckedOutClientError));
  return pool;
}

/**
 * pg-pool listens for errors only on idle clients. A client that is checked out (inside a
 * transaction, holding a LISTEN, between two queries) emits 'error' with no listener when its
 * connection drops, and the process dies. The error needs no handling here: the query in flight
 * rejects with it, later queries on the client fail, and `release()` discards a client that is no
 * longer queryable. Code that keeps a client idle for long (LISTEN) adds its own listener.
 */
function ignoreCheckedOutClientError(): void {}

/** The startup `options` parameter for session settings: `-c name=value`, spaces and backslashes escaped. */
function sessionOptions(settings: Readonly<Record<string, string>>): string {
  return Object.entries(settings)
    .map(([name, value]) => {
      if (!/^[a-z_][a-z0-9_.]*$/i.test(name)) throw new Error(`not a setting name: ${JSON.stringify(name)}`);
      return `-c ${name}=${value.replace(/[\\ ]/g, "\\$&")}`;
    })
    .join(" ");
}

export type TransactionOptions = {
  /**
   * Statements run right after BEGIN in the same round trip (one simple query: no parameters, so
   * any value in them is a literal the caller has checked).
   */
  first?: string;
};

/**
 * Runs `fn` inside BEGIN/COMMIT on one pooled connection; ROLLBACK if it throws (the error is
 * rethrown). The connection goes back to the pool either way, or is destroyed when even ROLLBACK
 * failed, so a broken connection is never reused.
 */
export async function withTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query(options.first === undefined ? "BEGIN" : `BEGIN; ${options.first}`);
    const result = await fn(client);
    await client.query("COMMIT");
    return result;
  } catch (err) {
    try {
      await client.query("ROLLBACK");
    } catch (rollbackErr) {
      broken = rollbackErr as Error;
    }
    throw err;
  } finally {
    client.release(broken);
  }
}

/**
 * Readiness check: `SELECT 1` through the pool, failing after `timeoutMs` (a hung connection must
 * make the probe fail, not hang it).
 */
export async function checkDatabase(pool: pg.Pool, timeoutMs = 2000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`database did not answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([pool.query("SELECT 1"), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The database's clock (`now()`, the current transaction's start), for comparing with timestamps
 * the database wrote. A Date holds milliseconds and Postgres microseconds, so the caller says which
 * way to round: `"down"` when rows written after this moment must not count as before it (what
 * is attempted in a run), `"up"` when rows written just before it, in the same millisecond, must
 * count as due by it.
 */
export async function databaseNow(db: Queryable, round: "down" | "up"): Promise<Date> {
  const { rows } = await db.query<{ ms: number }>(
    `SELECT ${round === "up" ? "ceil" : "floor"}(extract(epoch FROM now()) * 1000)::float8 AS ms`,
  );
  const ms = rows[0]?.ms;
  if (ms === undefined) throw new Error("the database returned no time for now()");
  return new Date(ms);
}
