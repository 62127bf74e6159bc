import type { ServiceContext } from "@syncwell/service";
import { newReplicaId } from "@syncwell/tick-runs";
import { type Config, cipherFromConfig } from "../config.ts";
import { type ProviderRuntime, resolveProviders } from "../domain/providers.ts";
import { createPostgresRateLimiter } from "./rate-limiter.ts";
import { RefreshEngine, type RefreshSettings } from "./refresh-engine.ts";
import { type RefreshTickRuns, refreshTickRuns } from "./refresh-tick-runs.ts";
import { RotationJournal } from "./rotation-journal.ts";

/** Left of SHUTDOWN_TIMEOUT_MS for the steps after the refresh engine (bus, Postgres, spans). */
const SHUTDOWN_MARGIN_MS = 5_000;

export type RefreshServices = {
  engine: RefreshEngine;
  coordinator: RefreshTickRuns;
  providers: ReadonlyMap<string, ProviderRuntime>;
  /** Stops claiming, awaits the answers in flight and writes them; then stops the coordinator. */
  stop(): Promise<void>;
};

export function refreshSettings(config: Config): RefreshSettings {
  return {
    leadMs: config.REFRESH_LEAD_TIME,
    idleMaxMs: config.REFRESH_IDLE_MAX,
    // A lease shorter than sending a request plus its margin would let two workers refresh one
    // connection; while the answer is awaited the lease is renewed.
    leaseMs: Math.max(config.REFRESH_CLAIM_LEASE, config.REFRESH_TIMEOUT + 3_000),
    batchSize: config.REFRESH_BATCH_SIZE,
    sendTimeoutMs: config.REFRESH_TIMEOUT,
    answerTimeoutMs: config.REFRESH_ANSWER_TIMEOUT,
  };
}

/**
 * The refresh side of the service: providers resolved from the
 * configuration (disabled ones logged once), the shared rate limiter, the engine, and the run
 * coordinator listening for other replicas' wake-ups. Stopped before the bus on shutdown, so a run
 * in progress stops claiming and writes what it has before the consumers drain.
 */
export function startRefresh(ctx: ServiceContext<Config>): RefreshServices {
  const logger = ctx.logger.child({ component: "token-refresh" });
  const providers = resolveProviders(ctx.config);
  for (const provider of providers.values()) {
    if (!provider.enabled) {
      logger.warn(
        { provider: provider.id, reason: provider.disabledReason },
        `provider ${provider.id} disabled (${provider.disabledReason}); its connections are skipped`,
      );
    } else if (provider.tokenUrlOverridden && ctx.config.NODE_ENV === "production") {
      logger.warn(
        { provider: provider.id, tokenUrl: provider.tokenUrl },
        "provider token URL overridden in production",
      );
    }
  }
  const settings = refreshSettings(ctx.config);
  if (settings.leaseMs !== ctx.config.REFRESH_CLAIM_LEASE) {
    logger.warn({ leaseMs: settings.leaseMs }, "REFRESH_CLAIM_LEASE raised to REFRESH_TIMEOUT + 3s");
  }
  if (ctx.config.SHUTDOWN_TIMEOUT_MS < settings.answerTimeoutMs + SHUTDOWN_MARGIN_MS) {
    logger.warn(
      { shutdownTimeoutMs: ctx.config.SHUTDOWN_TIMEOUT_MS, answerTimeoutMs: settings.answerTimeoutMs },
      "SHUTDOWN_TIMEOUT_MS is shorter than REFRESH_ANSWER_TIMEOUT + 5s: a stop may not wait for every answer in flight (rotated ones are still journaled)",
    );
  }
  const enabled = [...providers.values()].filter((p) => p.enabled);
  const pool = ctx.pool;
  const cipher = cipherFromConfig(ctx.config);
  const journal = new RotationJournal({
    js: ctx.bus.js,
    jsm: ctx.bus.jsm,
    naming: ctx.bus.naming,
    cipher,
    logger,
  });
  const engine = new RefreshEngine({
    pool,
    cipher,
    journal,
    providers,
    limiter: createPostgresRateLimiter(pool, new Map(enabled.map((p) => [p.id, p.rateLimitPerSec]))),
    logger,
    replicaId: newReplicaId(),
    settings,
  });
  const coordinator = refreshTickRuns({
    engine,
    pool,
    nc: ctx.bus.nc,
    naming: ctx.bus.naming,
    logger,
  });
  coordinator.start();
  // Answers a replica journaled but could not store (Postgres away, then a restart or a crash).
  engine.replayJournal().catch((err: unknown) => {
    logger.error({ err }, "could not replay the rotation journal; claims still apply its entries first");
  });
  logger.info(
    {
      replica: engine.replicaId,
      enabled: enabled.map((p) => ({
        provider: p.id,
        rateLimitPerSec: p.rateLimitPerSec,
        concurrency: p.concurrency,
      })),
      ...settings,
    },
    "token refresh ready",
  );
  const stop = async () => {
    await engine.stop(Date.now() + Math.max(1_000, ctx.config.SHUTDOWN_TIMEOUT_MS - SHUTDOWN_MARGIN_MS));
    await coordinator.stop();
  };
  return { engine, coordinator, providers, stop };
}
