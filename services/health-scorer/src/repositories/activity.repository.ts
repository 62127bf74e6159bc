import type { PrismaDb } from "@syncwell/db";

/**
 * Records that the product saw the user now (`users.last_active_at`): the health sweep refreshes
 * the scores of users seen within HEALTH_ACTIVE_USER_WINDOW only. Never moves the time back (a
 * delayed request after a later one). Undefined when there is no such user.
 */
export async function recordActivity(db: PrismaDb, userId: string, now: Date): Promise<Date | undefined> {
  const rows = await db.$queryRaw<Array<{ lastActiveAt: Date }>>`
    UPDATE users SET last_active_at = GREATEST(last_active_at, ${now}::timestamptz)
    WHERE id = ${userId}::uuid
    RETURNING last_active_at AS "lastActiveAt"`;
  return rows[0]?.lastActiveAt;
}
