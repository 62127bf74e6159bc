/**
 * Whether a database error means "Postgres cannot be reached right now" (worth retrying for as long
 * as it takes) rather than "this statement is wrong" (retrying changes nothing): connection
 * exceptions (SQLSTATE class 08), a server shutting down or starting (57P01–57P03), too many
 * connections (53300), and the socket errors and pool timeouts of node-postgres.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null | undefined;
  const code = typeof e?.code === "string" ? e.code : "";
  if (/^08/.test(code) || /^57P0[123]$/.test(code) || code === "53300") return true;
  if (
    ["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "ENOTFOUND", "EAI_AGAIN"].includes(
      code,
    )
  ) {
    return true;
  }
  const message = typeof e?.message === "string" ? e.message : "";
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended unexpectedly/i.test(
    message,
  );
}
