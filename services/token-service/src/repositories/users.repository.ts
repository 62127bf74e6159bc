import type { Queryable } from "@syncwell/db";

export type EnsureUserResult =
  | { kind: "exists" }
  | { kind: "created" }
  /** No user with this id, and no email to create one with. */
  | { kind: "missing" }
  /** The email already belongs to another user. */
  | { kind: "email_taken" };

/**
 * Makes sure the user a connection is registered for exists, creating it when an email is given.
 * An existing user is left as it is (its email is not overwritten). No exception on a conflict,
 * so the caller's transaction stays usable.
 */
export async function ensureUser(
  db: Queryable,
  userId: string,
  email: string | undefined,
): Promise<EnsureUserResult> {
  if (email !== undefined) {
    const inserted = await db.query(
      // Emails are stored lowercased (a CHECK enforces it). DO NOTHING covers both the id and the
      // email unique index; which one it was is told by the lookup below.
      "INSERT INTO users (id, email) VALUES ($1, lower($2)) ON CONFLICT DO NOTHING RETURNING id",
      [userId, email],
    );
    if (inserted.rowCount === 1) return { kind: "created" };
  }
  const { rowCount } = await db.query("SELECT 1 FROM users WHERE id = $1", [userId]);
  if (rowCount === 1) return { kind: "exists" };
  return email === undefined ? { kind: "missing" } : { kind: "email_taken" };
}
