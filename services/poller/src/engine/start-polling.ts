import { cipherFromKeyConfig } from "@syncwell/credentials";
import { createPool } from "@syncwell/db";
import { createRateLimiter } from "@syncwell/rate-limit";
import type { ServiceContext } from "@syncwell/service";
import { newReplicaId } from "@syncwell/tick-runs";
import type { Connector } from "../adapters/connectors/connector.ts";
import { type Config, defaultRateLimitPerSec, platformEnvSettings } from "../config.ts";
import { checkAutovacuum } from "./autovacuum-check.ts";
import { pollerMetrics } from "./metrics.ts";
import { PAGE_WRITE_SESSION_SETTINGS, PAGE_WRITES_IN_FLIGHT } from "./page-writer.ts";
import { PollEngine } from "./poll-engine.ts";
import { type PollTickRuns, pollTickRuns } from "./poll-tick-runs.ts";
import type { PlatformRuntime, PollSettings } from "./settings.ts";

export type PollerServices = {
  engine: PollEngine;
  coordinator: PollTickRuns;
  /** Polls in flight hand their claims back; pages already written stay written. */
  stop(): Promise<void>;
};

export function pollSettings(config: Config): PollSettings {
  return {
    defaultIntervalMs: config.POLL_INTERVAL,
    intervals: config.POLL_INTERVALS,
    minTokenValidityMs: config.POLL_TOKEN_MIN_VALIDITY,
    concurrency: config.POLL_CONCURRENCY,
    requestTimeoutMs: config.POLL_REQUEST_TIMEOUT,
    leaseMs: config.POLL_CLAIM_LEASE,
    batchSize: config.POLL_BATCH_SIZE,
    maxPagesPerPoll: config.POLL_MAX_PAGES,
    backoffBaseMs: config.POLL_BACKOFF_BASE,
    backoffMaxMs: config.POLL_BACKOFF_MAX,
    unauthorizedDelayMs: config.POLL_UNAUTHORIZED_DELAY,
    runHorizonMs: config.POLL_RUN_HORIZON,
    firstSyncWindowMs: config.POLL_FIRST_SYNC_WINDOW,
  };
}

/** Each connector with its API URL (PLATFORM_<P>_API_URL overrides), shared rate limit and concurrency. */
export function platformRuntimes(
  connectors: readonly Connector[],
  config: Config,
): Map<string, PlatformRuntime> {
  const platforms = new Map<string, PlatformRuntime>();
  for (const connector of connectors) {
    if (platforms.has(connector.platform))
      throw new Error(`two connectors for platform ${connector.platform}`);
    const env = platformEnvSettings(config, connector.platform);
    const perSec = env.rateLimitPerSec ?? defaultRateLimitPerSec[connector.platform] ?? 10;
    platforms.set(connector.platform, {
      connector,
      baseUrl: env.apiUrl ?? connector.baseUrl,
      rateLimit: { perSec, burst: env.rateLimitBurst ?? Math.max(1, Math.ceil(perSec)) },
      concurrency: env.concurrency ?? config.POLL_PLATFORM_CONCURRENCY,
    });
  }
  return platforms;
}

/**
 * The poll side of the service: the engine over the given connectors and the tick coordinator
 * listening for other replicas' wake-ups. Stopped before the bus on shutdown.
 */
export function startPolling(ctx: ServiceContext<Config>, connectors: readonly Connector[]): PollerServices {
  const logger = ctx.logger.child({ component: "poll-engine" });
  const platforms = platformRuntimes(connectors, ctx.config);
  for (const [platform, runtime] of platforms) {
    if (runtime.baseUrl !== runtime.connector.baseUrl && ctx.config.NODE_ENV === "production") {
      logger.warn({ platform, baseUrl: runtime.baseUrl }, "platform API URL overridden in production");
    }
  }
  const pageWritePool = createPool(ctx.config.DATABASE_URL, {
    max: PAGE_WRITES_IN_FLIGHT,
    applicationName: `${ctx.name}-page-writer`,
    sessionSettings: PAGE_WRITE_SESSION_SETTINGS,
    onError: (err) => logger.warn({ err }, "idle page-writer connection failed; it will be replaced"),
  });
  const engine = new PollEngine({
    pool: ctx.pool,
    pageWritePool,
    // The token service's keys: the poller decrypts access tokens, never writes them.
    cipher: cipherFromKeyConfig(ctx.config),
    limiter: createRateLimiter(ctx.pool),
    platforms,
    settings: pollSettings(ctx.config),
    logger,
    metrics: pollerMetrics(),
    replicaId: newReplicaId(),
    source: ctx.name,
  });
  const coordinator = pollTickRuns({
    engine,
    pool: ctx.pool,
    nc: ctx.bus.nc,
    naming: ctx.bus.naming,
    logger,
  });
  coordinator.start();
  void checkAutovacuum(ctx.pool, logger);
  const stop = async () => {
    await engine.stop();
    await coordinator.stop();
    await pageWritePool.end();
  };
  return { engine, coordinator, stop };
}
