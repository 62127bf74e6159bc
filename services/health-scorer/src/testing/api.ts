// Shared by the API's tests: the routes on a real database with a captured log, two valid API keys
// (rotation), and a user factory. Not imported by production code.
import { randomUUID } from "node:crypto";
import { Writable } from "node:stream";
import { createPrismaClient, type PrismaClient, type Queryable } from "@syncwell/db";
import { createHttpServer } from "@syncwell/runtime";
import { createLogger } from "@syncwell/telemetry";
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from "fastify";
import type pg from "pg";
import { registerHealthRoutes } from "../routes/index.ts";

/** Two keys valid at once, as during a rotation. */
export const API_KEY = "health-api-key-0123456789abcdef-current";
export const NEXT_API_KEY = "health-api-key-fedcba9876543210-next-one";

export const auth = { authorization: `Bearer ${API_KEY}` } as const;

export type TestApi = {
  app: FastifyInstance;
  prisma: PrismaClient;
  /** Every log line written so far, raw. */
  logText(): string;
  /** Every response body and header set so far, for checks that nothing leaked. */
  responsesText(): string;
  call(options: InjectOptions): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
};

/** A request to the API of a running service (real HTTP), with a valid key and a JSON body if any. */
export function apiRequest(baseUrl: string, method: string, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { ...auth };
  if (body !== undefined) headers["content-type"] = "application/json";
  return fetch(`${baseUrl}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** The API as the service wires it, through Prisma Client over the given pool, logging to a buffer. */
export async function startTestApi(pool: pg.Pool): Promise<TestApi> {
  const chunks: string[] = [];
  const responses: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString("utf8"));
      callback();
    },
  });
  const logger = createLogger({ service: "health-scorer-test", level: "trace", destination });
  const app = createHttpServer({ logger, readiness: [] });
  const prisma = createPrismaClient(pool);
  await registerHealthRoutes(app, { prisma, apiKeys: [API_KEY, NEXT_API_KEY] });
  await app.ready();
  return {
    app,
    prisma,
    logText: () => chunks.join(""),
    responsesText: () => responses.join("\n"),
    call: async (options) => {
      const res = await app.inject({ ...options, headers: { ...auth, ...options.headers } });
      responses.push(res.body, JSON.stringify(res.headers));
      return res;
    },
    close: async () => {
      await app.close();
      await prisma.$disconnect(); // leaves the caller's pool open
    },
  };
}

export async function createUser(db: Queryable): Promise<string> {
  const id = randomUUID();
  await db.query("INSERT INTO users (id, email) VALUES ($1, $2)", [id, `user-${id}@example.com`]);
  return id;
}
