import { PrismaPg } from "@prisma/adapter-pg";
import type pg from "pg";
import { type Prisma, PrismaClient } from "./generated/prisma/client.ts";

/**
 * Prisma Client, or the client an interactive transaction hands its callback: what a repository
 * over Prisma takes first, so the same function runs alone or inside a caller's transaction.
 */
export type PrismaDb = Prisma.TransactionClient;

/**
 * Limits of every interactive transaction (`prisma.$transaction(async (tx) => …)`): a CRUD
 * transaction is a few statements, so these only end one stuck behind a lock or a starved pool, and
 * neither outlives the HTTP request it serves (30 s by default). Prisma's own defaults (2 s to get a
 * connection, 5 s to finish) would cut a request that waits its turn behind a refresh holding the row.
 */
const TRANSACTION_LIMITS = { maxWait: 10_000, timeout: 30_000 } as const;

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
  return new PrismaClient({ adapter, transactionOptions: TRANSACTION_LIMITS });
}
