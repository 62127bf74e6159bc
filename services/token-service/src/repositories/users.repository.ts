import type { PrismaDb } from "@syncwell/db";

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
  db: PrismaDb,
  userId: string,
  email: string | undefined,
): Promise<EnsureUserResult> {
  if (email !== undefined) {
    // Emails are stored lowercased (a CHECK enforces it; the body's email is ASCII). skipDuplicates
    // is ON CONFLICT DO NOTHING: it covers both the id and the email unique index, and which one it
    // was is told by the lookup below.
    const { count } = await db.user.createMany({
      data: [{ id: userId, email: email.toLowerCase() }],
      skipDuplicates: true,
    });
    if (count === 1) return { kind: "created" };
  }
  const user = await db.user.findUnique({ where: { id: userId }, select: { id: true } });
  if (user) return { kind: "exists" };
  return email === undefined ? { kind: "missing" } : { kind: "email_taken" };
}
