import type { Queryable } from "@syncwell/db";
import type { Logger } from "@syncwell/telemetry";

/**
 * Warns when the server runs without autovacuum. Postgres keeps each session's query plans —
 * those of the foreign-key checks against raw_records included — until the table's statistics
 * change, and autovacuum is what analyzes a table as it grows. Without it, plans made while
 * raw_records was nearly empty (a new deployment) keep scanning the whole table, and every page
 * write gets slower as the data grows (`npm run bench:write-pages -- --pages 1 --no-autoanalyze`).
 * Returns whether autovacuum is on (null when the setting could not be read).
 */
export async function checkAutovacuum(db: Queryable, logger: Logger): Promise<boolean | null> {
  try {
    const { rows } = await db.query<{ autovacuum: string }>(
      "SELECT current_setting('autovacuum') AS autovacuum",
    );
    const on = rows[0]?.autovacuum !== "off";
    if (!on) {
      logger.warn(
        "Postgres runs with autovacuum off: analyze raw_records and communication_events regularly, or page writes slow down as they grow",
      );
    }
    return on;
  } catch (err) {
    logger.warn({ err }, "could not read the server's autovacuum setting");
    return null;
  }
}
