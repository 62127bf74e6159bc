// Shared by this service's tests: keys, a cipher, the connections API on a real database with a
// captured log, and a user factory. Not imported by production code.
import { randomBytes, randomUUID } from "node:crypto";
import { Writable } from "node:stream";
import { createTokenCipher, parseKeyList, type TokenCipher } from "@syncwell/credentials";
import { createPrismaClient, type PrismaClient, type Queryable } from "@syncwell/db";
import { createHttpServer, type HttpTimeouts } from "@syncwell/runtime";
import { createLogger } from "@syncwell/telemetry";
import type { FastifyInstance } from "fastify";
import type pg from "pg";
import { providerIds } from "../config.ts";
import { registerConnectionRoutes } from "../routes/index.ts";

export const API_TOKEN = "test-api-token-0123456789abcdef";

export function randomKey(): string {
  return randomBytes(32).toString("base64");
}

/** `TOKEN_ENCRYPTION_KEYS` value for the given ids and base64 keys. */
export function keyList(keys: Record<string, string>): string {
  return Object.entries(keys)
    .map(([id, key]) => `${id}:${key}`)
    .join(",");
}

export function cipherFor(keys: Record<string, string>, current: string): TokenCipher {
  return createTokenCipher(parseKeyList(keyList(keys)), current);
}

/** A token nobody could confuse with anything else in a response or a log line. */
export function secretToken(kind: "access" | "refresh"): string {
  return `${kind}-SECRET-${randomBytes(12).toString("hex")}`;
}

export type TestApi = {
  app: FastifyInstance;
  /** The routes' Prisma Client, over the given pool (for reading rows back as the routes do). */
  prisma: PrismaClient;
  /** Every log line written so far, raw. */
  logText(): string;
  close(): Promise<void>;
};

/** The connections API as the service wires it, through Prisma Client over the given pool, logging to a buffer. */
export async function startTestApi(
  pool: pg.Pool,
  cipher: TokenCipher,
  options: { timeouts?: Partial<HttpTimeouts> } = {},
): Promise<TestApi> {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString("utf8"));
      callback();
    },
  });
  const logger = createLogger({ service: "token-service-test", level: "trace", destination });
  const app = createHttpServer({ logger, readiness: [], timeouts: options.timeouts });
  const prisma = createPrismaClient(pool);
  await registerConnectionRoutes(app, {
    prisma,
    cipher,
    apiToken: API_TOKEN,
    providers: providerIds,
    source: "token-service",
  });
  await app.ready();
  const close = async () => {
    await app.close();
    await prisma.$disconnect(); // leaves the caller's pool open
  };
  return { app, prisma, logText: () => chunks.join(""), close };
}

export const auth = { authorization: `Bearer ${API_TOKEN}` } as const;

export async function createUser(db: Queryable, email = `user-${randomUUID()}@example.com`): Promise<string> {
  const id = randomUUID();
  await db.query("INSERT INTO users (id, email) VALUES ($1, $2)", [id, email]);
  return id;
}
