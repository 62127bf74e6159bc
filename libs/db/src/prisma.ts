import { PrismaPg } from "@prisma/adapter-pg";
import type pg from "pg";
import { PrismaClient } from "./generated/prisma/client.ts";

/**
 * Prisma Client over `@prisma/adapter-pg` (no query-engine binary). Pass a URL to give Prisma its
 * own pool, or an existing `pg.Pool` to share connections with raw `pg` code; a shared pool is not
 * closed by `$disconnect()`.
 */
export function createPrismaClient(databaseUrlOrPool: string | pg.Pool): PrismaClient {
  const adapter =
    typeof databaseUrlOrPool === "string"
      ? new PrismaPg({ connectionString: databaseUrlOrPool })
      : new PrismaPg(databaseUrlOrPool);
  return new PrismaClient({ adapter });
}
