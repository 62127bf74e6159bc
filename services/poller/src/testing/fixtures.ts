/**
 * Test support (not used by production code): a cipher, factories for users, connections and
 * contacts on a real database, an engine with test-sized settings, and readers for what the engine
 * wrote.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { createTokenCipher, parseKeyList, type TokenCipher } from "@syncwell/credentials";
import type { Queryable } from "@syncwell/db";
import { createRateLimiter } from "@syncwell/rate-limit";
import { createLogger, type Logger } from "@syncwell/telemetry";
import type pg from "pg";
import type { Connector } from "../adapters/connectors/connector.ts";
import { pollerMetrics } from "../engine/metrics.ts";
import { PollEngine } from "../engine/poll-engine.ts";
import type { PlatformRuntime, PollSettings } from "../engine/settings.ts";

export const TEST_KEY = randomBytes(32).toString("base64");
export const TEST_KEYS = `k1:${TEST_KEY}`;

export function testCipher(): TokenCipher {
  return createTokenCipher(parseKeyList(TEST_KEYS), "k1");
}

export function silentLogger(): Logger {
  return createLogger({
    service: "poller-test",
    level: process.env.TEST_LOG_LEVEL === "debug" ? "debug" : "silent",
  });
}

export async function createUser(db: Queryable, email = `user-${randomUUID()}@example.com`): Promise<string> {
  const id = randomUUID();
  await db.query("INSERT INTO users (id, email) VALUES ($1, $2)", [id, email.toLowerCase()]);
  return id;
}

export type NewConnection = {
  userId: string;
  provider: string;
  accessToken: string;
  /** Default: an hour from now. */
  expiresAt?: Date | null;
  expiresNever?: boolean;
  scopes?: string[];
  status?: string;
  providerAccountId?: string | null;
};

export async function createConnection(
  db: Queryable,
  cipher: TokenCipher,
  input: NewConnection,
): Promise<string> {
  const id = randomUUID();
  await db.query(
    `INSERT INTO connections (id, user_id, provider, provider_account_id, scopes, status, access_token_encrypted,
       token_key_id, access_token_expires_at, token_expires_never)
     VALUES ($1, $2, $3, $4, $5, $6, $7, 'k1', $8, $9)`,
    [
      id,
      input.userId,
      input.provider,
      input.providerAccountId ?? randomUUID(),
      input.scopes ?? [],
      input.status ?? "connected",
      cipher.encrypt(input.accessToken),
      input.expiresNever
        ? null
        : input.expiresAt === undefined
          ? new Date(Date.now() + 3_600_000)
          : input.expiresAt,
      input.expiresNever ?? false,
    ],
  );
  return id;
}

export async function addContact(db: Queryable, userId: string, email: string): Promise<string> {
  const id = randomUUID();
  await db.query("INSERT INTO contacts (id, user_id, email) VALUES ($1, $2, $3)", [
    id,
    userId,
    email.toLowerCase(),
  ]);
  return id;
}

export function testSettings(overrides: Partial<PollSettings> = {}): PollSettings {
  return {
    defaultIntervalMs: 30 * 60_000,
    intervals: new Map(),
    minTokenValidityMs: 2 * 60_000,
    concurrency: 16,
    requestTimeoutMs: 5_000,
    leaseMs: 30_000,
    batchSize: 16,
    maxPagesPerPoll: 50,
    backoffBaseMs: 30_000,
    backoffMaxMs: 6 * 60 * 60_000,
    unauthorizedDelayMs: 10 * 60_000,
    runHorizonMs: 0,
    firstSyncWindowMs: 30 * 24 * 60 * 60_000,
    ...overrides,
  };
}

export type TestPlatform = { connector: Connector; perSec?: number; burst?: number; concurrency?: number };

export function testEngine(
  pool: pg.Pool,
  platforms: TestPlatform[],
  options: {
    settings?: Partial<PollSettings>;
    replicaId?: string;
    cipher?: TokenCipher;
    logger?: Logger;
  } = {},
): PollEngine {
  const runtimes = new Map<string, PlatformRuntime>(
    platforms.map((p) => [
      p.connector.platform,
      {
        connector: p.connector,
        baseUrl: p.connector.baseUrl,
        rateLimit: { perSec: p.perSec ?? 1_000, burst: p.burst ?? 1_000 },
        concurrency: p.concurrency ?? 8,
      },
    ]),
  );
  return new PollEngine({
    pool,
    cipher: options.cipher ?? testCipher(),
    limiter: createRateLimiter(pool),
    platforms: runtimes,
    settings: testSettings(options.settings),
    logger: options.logger ?? silentLogger(),
    metrics: pollerMetrics(),
    replicaId: options.replicaId ?? `test-${randomBytes(3).toString("hex")}`,
  });
}

export type SyncStateRow = {
  cursor: string | null;
  page_token: string | null;
  full_listing: boolean;
  status: string;
  paused_reason: string | null;
  next_poll_at: Date;
  last_polled_at: Date | null;
  last_success_at: Date | null;
  consecutive_failures: number;
  last_error: string | null;
  last_error_kind: string | null;
  claimed_until: Date | null;
  claimed_by: string | null;
  poll_counts: Record<string, number>;
};

export async function syncState(
  db: Queryable,
  connectionId: string,
  platform: string,
  resource = "items",
): Promise<SyncStateRow | undefined> {
  const { rows } = await db.query<SyncStateRow>(
    "SELECT * FROM sync_states WHERE connection_id = $1 AND platform = $2 AND resource = $3",
    [connectionId, platform, resource],
  );
  return rows[0];
}

/** Makes a connection's resources due now (tests skip the interval instead of waiting for it). */
export async function makeDue(db: Queryable, connectionId: string): Promise<void> {
  await db.query("UPDATE sync_states SET next_poll_at = now() WHERE connection_id = $1", [connectionId]);
}

export type OutboxPayload<D> = { id: string; type: string; data: D };

export type IngestedData = {
  connectionId: string;
  userId: string;
  provider: string;
  resource: string;
  counts: { added: number; updated: number; unchanged: number; deleted: number };
  cursor: string | null;
  window?: { from: string; to: string };
  communicationEventsCreated: number;
  fullSync: boolean;
  jobRunId?: string;
};

/** Events the engine enqueued, oldest first. */
export async function outboxEvents<D = Record<string, unknown>>(
  db: Queryable,
  type: string,
  connectionId?: string,
): Promise<OutboxPayload<D>[]> {
  const { rows } = await db.query<{ payload: OutboxPayload<D> & { data: { connectionId?: string } } }>(
    "SELECT payload FROM outbox_events WHERE type = $1 ORDER BY created_at, id",
    [type],
  );
  return rows
    .map((r) => r.payload)
    .filter((p) => connectionId === undefined || p.data.connectionId === connectionId);
}

export async function storedRecords(
  db: Queryable,
  connectionId: string,
): Promise<Array<{ external_id: string; deleted_at: Date | null; payload: { title: string } }>> {
  const { rows } = await db.query(
    "SELECT external_id, deleted_at, payload FROM raw_records WHERE connection_id = $1 ORDER BY external_id",
    [connectionId],
  );
  return rows;
}
