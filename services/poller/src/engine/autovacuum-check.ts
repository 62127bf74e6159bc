import type { Queryable } from "@syncwell/db";
import type { Logger } from "@syncwell/telemetry";

/**
 * Warns when the server runs without autovacuum. Every poll updates its sync state and every
 * changed record its row, so without vacuum their dead rows pile up; and Postgres keeps a
 * session's plans until a table's statistics change, so a plan made while a table was nearly empty
 * (a new deployment) may keep reading all of it as it grows. (The page statements and the
 * reference checks plan without sequential scans, so they do not depend on analyses; the poller's
 * other statements do.) Returns whether autovacuum is on (null when the setting could not be read).
 */
export async function checkAutovacuum(db: Queryable, logger: Logger): Promise<boolean | null> {
  try {
    const { rows } = await db.query<{ autovacuum: string }>(
      "SELECT current_setting('autovacuum') AS autovacuum",
    );
    const on = rows[0]?.autovacuum !== "off";
    if (!on) {
      logger.warn(
        "Postgres runs with autovacuum off: vacuum and analyze sync_states, raw_records and communication_events regularly, or they bloat and their plans go stale",
      );
    }
    return on;
  } catch (err) {
    logger.warn({ err }, "could not read the server's autovacuum setting");
    return null;
  }
}
