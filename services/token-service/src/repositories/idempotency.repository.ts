import { createHash } from "node:crypto";
import type { PrismaDb } from "@syncwell/db";

/** How long an `Idempotency-Key` is remembered; a key older than this counts as new. */
export const IDEMPOTENCY_KEY_TTL_HOURS = 24;

const expiredBefore = (now: Date) => new Date(now.getTime() - IDEMPOTENCY_KEY_TTL_HOURS * 3_600_000);

/**
 * A fingerprint of a request body: the same key must come with the same request. The body holds
 * tokens; a sha256 of them is not reversible for tokens of any real entropy, and only the digest
 * is stored.
 */
export function requestHash(body: unknown): string {
  return createHash("sha256").update(JSON.stringify(body)).digest("hex");
}

/**
 * Serialises requests carrying the same key until the caller's transaction ends, so two retries
 * racing each other cannot both create a connection. (An advisory lock: Prisma has no query for it.)
 */
export async function lockIdempotencyKey(db: PrismaDb, key: string): Promise<void> {
  await db.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`connection-idempotency:${key}`}, 0))`;
}

/** The request a live key was first used with, and the connection it registered. */
export async function findIdempotencyKey(
  db: PrismaDb,
  key: string,
  now: Date,
): Promise<{ requestHash: string; connectionId: string } | undefined> {
  const found = await db.connectionIdempotencyKey.findFirst({
    where: { key, createdAt: { gt: expiredBefore(now) } },
    select: { requestHash: true, connectionId: true },
  });
  return found ?? undefined;
}

/** Records the key; an expired row under the same key is replaced. */
export async function saveIdempotencyKey(
  db: PrismaDb,
  key: string,
  hash: string,
  connectionId: string,
  now: Date,
): Promise<void> {
  const row = { requestHash: hash, connectionId, createdAt: now };
  await db.connectionIdempotencyKey.upsert({ where: { key }, create: { key, ...row }, update: row });
}

/** Drops keys past their lifetime (called now and then by the create route; cheap with the index). */
export async function purgeExpiredIdempotencyKeys(db: PrismaDb, now: Date): Promise<number> {
  const { count } = await db.connectionIdempotencyKey.deleteMany({
    where: { createdAt: { lt: expiredBefore(now) } },
  });
  return count;
}
