// Shared by the refresh tests and the benchmark: seeding due connections backed by simulator
// grants, a captured logger, an engine on a test database, reading the outbox. Not used in production.
import { randomUUID } from "node:crypto";
import { Writable } from "node:stream";
import type { AnyEvent, ConnectionStatus } from "@syncwell/contracts";
import type { TokenCipher } from "@syncwell/credentials";
import type { Queryable } from "@syncwell/db";
import type { Simulator } from "@syncwell/provider-simulator";
import { createLogger, type Logger } from "@syncwell/telemetry";
import type pg from "pg";
import { Registry } from "prom-client";
import { type ProviderId, providerEnvName, providerIds } from "../config.ts";
import { type ProviderRuntime, resolveProviders } from "../domain/providers.ts";
import { refreshMetrics } from "../engine/metrics.ts";
import { type ProviderRateLimiter, unlimited } from "../engine/rate-limiter.ts";
import { RefreshEngine, type RefreshSettings } from "../engine/refresh-engine.ts";

/** Environment pointing every provider at the simulator with its default client pair. */
export function simulatorProviderEnv(
  simUrl: string,
  options: { rateLimitPerSec?: number; concurrency?: number } = {},
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const id of providerIds) {
    const p = `PROVIDER_${providerEnvName(id)}`;
    env[`${p}_CLIENT_ID`] = `sim-${id}-client`;
    env[`${p}_CLIENT_SECRET`] = `sim-${id}-secret`;
    env[`${p}_TOKEN_URL`] = `${simUrl}/${id}/oauth/token`;
    if (options.rateLimitPerSec !== undefined)
      env[`${p}_RATE_LIMIT_PER_SEC`] = String(options.rateLimitPerSec);
    if (options.concurrency !== undefined) env[`${p}_CONCURRENCY`] = String(options.concurrency);
  }
  return env;
}

/** Providers resolved as the service would from `simulatorProviderEnv` (plus overrides, typed). */
export function simulatorProviders(
  simUrl: string,
  overrides: Record<string, unknown> = {},
  concurrency = 32,
): Map<ProviderId, ProviderRuntime> {
  const env: Record<string, unknown> = { ...simulatorProviderEnv(simUrl) };
  for (const [key, value] of Object.entries(env)) {
    if (key.endsWith("_RATE_LIMIT_PER_SEC") || key.endsWith("_CONCURRENCY")) env[key] = Number(value);
  }
  return resolveProviders({ REFRESH_CONCURRENCY: concurrency, ...env, ...overrides });
}

export const testSettings: RefreshSettings = {
  leadMs: 10 * 60_000,
  idleMaxMs: 24 * 60 * 60_000,
  leaseMs: 30_000,
  batchSize: 200,
  sendTimeoutMs: 2_000,
  answerTimeoutMs: 2_000,
};

export type CapturedLogger = { logger: Logger; text(): string; lines(): Record<string, unknown>[] };

/** A real service logger (redaction included) writing into memory. */
export function captureLogger(level = "trace"): CapturedLogger {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString("utf8"));
      callback();
    },
  });
  const logger = createLogger({ service: "token-service-test", level, destination });
  const text = () => chunks.join("");
  return {
    logger,
    text,
    lines: () =>
      text()
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

export function testEngine(options: {
  pool: pg.Pool;
  cipher: TokenCipher;
  providers: Map<ProviderId, ProviderRuntime>;
  logger: Logger;
  settings?: Partial<RefreshSettings>;
  limiter?: ProviderRateLimiter;
  replicaId?: string;
  random?: () => number;
}): RefreshEngine {
  return new RefreshEngine({
    pool: options.pool,
    cipher: options.cipher,
    providers: options.providers,
    limiter: options.limiter ?? unlimited,
    logger: options.logger,
    replicaId: options.replicaId ?? `test-${randomUUID().slice(0, 8)}`,
    settings: { ...testSettings, ...options.settings },
    metrics: refreshMetrics(new Registry()),
    writer: { lingerMs: 2 },
    ...(options.random ? { random: options.random } : {}),
  });
}

export type SeedSpec = {
  provider: ProviderId;
  count: number;
  /** Access token expires this long from now (negative: already expired). Default 60 s. */
  expiresInMs?: number;
  status?: ConnectionStatus;
  consecutiveFailures?: number;
  consecutiveTransientFailures?: number;
  tokenExpiresNever?: boolean;
  /** refresh_token_last_used_at this long ago (default: now). */
  refreshTokenIdleMs?: number;
};

export type SeededConnection = {
  id: string;
  userId: string;
  provider: ProviderId;
  /** Plaintext refresh token as registered (the simulator grant's first one). */
  refreshToken: string;
  accessToken: string;
};

/**
 * Inserts connections (one user each) whose tokens are real grants at the simulator, keyed by the
 * connection id (`connectionKey`), encrypted with `cipher`.
 */
export async function seedConnections(
  db: Queryable,
  cipher: TokenCipher,
  sim: Simulator,
  spec: SeedSpec,
): Promise<SeededConnection[]> {
  const out: SeededConnection[] = [];
  for (let i = 0; i < spec.count; i++) {
    const id = randomUUID();
    const created = sim.state.createGrant({ provider: spec.provider, connectionKey: id });
    if (!created.ok) throw new Error(`simulator grant: ${created.error}`);
    out.push({
      id,
      userId: randomUUID(),
      provider: spec.provider,
      refreshToken: created.grant.refreshToken,
      accessToken: created.grant.accessToken,
    });
  }
  const chunk = 2_000;
  for (let start = 0; start < out.length; start += chunk) {
    const part = out.slice(start, start + chunk);
    await db.query(
      "INSERT INTO users (id, email) SELECT u, 'u-' || u || '@example.com' FROM unnest($1::uuid[]) AS u",
      [part.map((c) => c.userId)],
    );
    await db.query(
      `INSERT INTO connections (id, user_id, provider, status, access_token_encrypted, refresh_token_encrypted,
         token_key_id, access_token_expires_at, token_expires_never, consecutive_failures,
         consecutive_transient_failures, refresh_token_last_used_at, last_refreshed_at)
       SELECT c.id, c.user_id, $3, $4, c.access, c.refresh, $5,
         CASE WHEN $9::bool THEN NULL ELSE now() + make_interval(secs => $6::float8 / 1000) END, $9,
         $7, $8, now() - make_interval(secs => $10::float8 / 1000), now() - make_interval(secs => $10::float8 / 1000)
       FROM unnest($1::uuid[], $2::uuid[], $11::text[], $12::text[]) AS c(id, user_id, access, refresh)`,
      [
        part.map((c) => c.id),
        part.map((c) => c.userId),
        spec.provider,
        spec.status ?? "connected",
        cipher.currentKeyId,
        spec.expiresInMs ?? 60_000,
        spec.consecutiveFailures ?? 0,
        spec.consecutiveTransientFailures ?? 0,
        spec.tokenExpiresNever ?? false,
        spec.refreshTokenIdleMs ?? 0,
        part.map((c) => cipher.encrypt(c.accessToken)),
        part.map((c) => cipher.encrypt(c.refreshToken)),
      ],
    );
  }
  return out;
}

export type ConnectionState = {
  id: string;
  status: ConnectionStatus;
  consecutive_failures: number;
  consecutive_transient_failures: number;
  access_token_encrypted: string;
  refresh_token_encrypted: string;
  access_token_expires_at: Date | null;
  token_expires_never: boolean;
  next_retry_at: Date | null;
  last_error_code: string | null;
  refresh_claimed_by: string | null;
  refresh_claimed_until: Date | null;
  last_refreshed_at: Date | null;
};

export async function connectionState(db: Queryable, id: string): Promise<ConnectionState> {
  const { rows } = await db.query<ConnectionState>("SELECT * FROM connections WHERE id = $1", [id]);
  const row = rows[0];
  if (!row) throw new Error(`no connection ${id}`);
  return row;
}

/** Every event in the outbox, oldest first. */
export async function outboxEvents(db: Queryable): Promise<AnyEvent[]> {
  const { rows } = await db.query<{ payload: AnyEvent }>(
    "SELECT payload FROM outbox_events ORDER BY created_at, id",
  );
  return rows.map((r) => r.payload);
}
