import {
  type Bus,
  type ConsumerDefinition,
  createBus,
  type RunningConsumer,
  type StreamOverrides,
} from "@syncwell/bus";
import {
  checkDatabase,
  createPool,
  createPrismaClient,
  type PrismaClient,
  redactDatabaseUrl,
} from "@syncwell/db";
import { createLogger, type Logger, repeatedFailureLog, shutdownTelemetry } from "@syncwell/telemetry";
import type { FastifyInstance } from "fastify";
import type pg from "pg";
import { z } from "zod";
import { exitOnConfigError, loadConfig } from "./config.ts";
import { commonEnv } from "./env.ts";
import { createHttpServer } from "./http-server.ts";
import { metricsRegistry } from "./metrics.ts";
import { createShutdown, type Shutdown } from "./shutdown.ts";

const commonSchema = z.object(commonEnv);
/** The configuration every service has (its own schema extends `commonEnv`). */
export type CommonConfig = z.output<typeof commonSchema>;

/** What a service's own code receives: everything already connected. */
export type ServiceContext<C extends CommonConfig> = {
  name: string;
  config: C;
  logger: Logger;
  pool: pg.Pool;
  prisma: PrismaClient;
  bus: Bus;
  shutdown: Shutdown;
};

export type ServiceDefinition<S extends z.ZodObject, C extends CommonConfig = z.output<S> & CommonConfig> = {
  /** Service name: logs, traces, NATS connection name, Postgres application_name. */
  name: string;
  /** The service's own env schema: `z.object({ ...commonEnv, ...its own })`. */
  configSchema: S;
  /** Durable consumers, as data (see `ConsumerDefinition`). */
  consumers?: (ctx: ServiceContext<C>) => ConsumerDefinition[];
  /** Registers the service's HTTP routes (probes and metrics are already there). */
  routes?: (app: FastifyInstance, ctx: ServiceContext<C>) => void | Promise<void>;
  /** Background work of the service (a timer loop, for example); returns how to stop it. */
  start?: (ctx: ServiceContext<C>) => Promise<(() => Promise<void>) | undefined> | Promise<void>;
  /** Relay this service's outbox to the bus (default true). */
  outboxRelay?: boolean;
  /** Stream limits overrides (tests use small ones). */
  streamOverrides?: StreamOverrides;
  env?: Record<string, string | undefined>;
  /** Install SIGTERM/SIGINT handlers (default true; tests that run services in-process turn it off). */
  handleSignals?: boolean;
};

export type RunningService<C extends CommonConfig> = ServiceContext<C> & {
  app: FastifyInstance;
  /** Base URL the HTTP server listens on. */
  url: string;
  consumers: RunningConsumer[];
  stop(reason?: string): Promise<void>;
};

/** Bound on each readiness probe's round trip: /readyz answers within it during an outage. */
const READINESS_PROBE_TIMEOUT_MS = 1_500;

function streamOverridesFromEnv(config: CommonConfig): StreamOverrides {
  return {
    ...(config.NATS_STREAM_MAX_BYTES !== undefined && { maxBytes: config.NATS_STREAM_MAX_BYTES }),
    ...(config.NATS_STREAM_MAX_AGE !== undefined && { maxAgeMs: config.NATS_STREAM_MAX_AGE }),
    ...(config.NATS_STREAM_REPLICAS !== undefined && { replicas: config.NATS_STREAM_REPLICAS }),
    ...(config.NATS_STREAM_STORAGE !== undefined && { storage: config.NATS_STREAM_STORAGE }),
  };
}

/**
 * Starts a service: config (exits naming the bad variable), logger, Postgres, NATS with streams
 * provisioned, outbox relay, HTTP server with /healthz, /readyz and /metrics, the service's
 * consumers and background work; and stops all of it in reverse order on SIGTERM.
 * Telemetry is started before this module is imported (`node --import @syncwell/telemetry/register`).
 */
export async function runService<S extends z.ZodObject>(
  def: ServiceDefinition<S>,
): Promise<RunningService<z.output<S> & CommonConfig>> {
  type C = z.output<S> & CommonConfig;
  let config: C;
  try {
    config = loadConfig(def.configSchema, def.env ?? process.env) as C;
  } catch (err) {
    return exitOnConfigError(err);
  }
  const logger = createLogger({ service: def.name, level: config.LOG_LEVEL, pretty: config.LOG_PRETTY });
  const shutdown = createShutdown({ logger, timeoutMs: config.SHUTDOWN_TIMEOUT_MS });
  if (def.handleSignals !== false) shutdown.installSignalHandlers();
  shutdown.add("telemetry", () => shutdownTelemetry());

  try {
    // Every idle connection fails at once when Postgres goes away: one line per interval.
    const idleFailures = repeatedFailureLog(logger, "an idle Postgres connection", {
      level: "warn",
      next: "the pool opens a new one when needed",
    });
    const pool = createPool(config.DATABASE_URL, {
      applicationName: def.name,
      statementTimeoutMs: config.DATABASE_STATEMENT_TIMEOUT,
      connectTimeoutMs: config.DATABASE_CONNECT_TIMEOUT,
      onError: (err) => idleFailures.failed(err),
    });
    shutdown.add("postgres", () => pool.end());
    const prisma = createPrismaClient(pool);
    shutdown.add("prisma", () => prisma.$disconnect());
    await checkDatabase(pool, 5_000).catch((err: Error) => {
      throw new Error(`cannot reach Postgres at ${redactDatabaseUrl(config.DATABASE_URL)}: ${err.message}`, {
        cause: err,
      });
    });

    const bus = await createBus({
      servers: config.NATS_URL.join(","),
      prefix: config.NATS_PREFIX,
      name: def.name,
      ...(config.NATS_USER !== undefined && { user: config.NATS_USER }),
      ...(config.NATS_PASSWORD !== undefined && { password: config.NATS_PASSWORD }),
      logger,
      registry: metricsRegistry,
      streamOverrides: { ...streamOverridesFromEnv(config), ...def.streamOverrides },
    }).catch((err: Error) => {
      throw new Error(`cannot reach NATS at ${config.NATS_URL.join(",")}: ${err.message}`, { cause: err });
    });
    // bus.close() stops consumers and relays first, then drains the connection.
    shutdown.add("nats", () => bus.close());
    await bus.provision();

    const ctx: ServiceContext<C> = { name: def.name, config, logger, pool, prisma, bus, shutdown };

    // Each service relays the rows it wrote: a service deployed with older contracts never
    // validates (or counts) another service's newer events.
    if (def.outboxRelay !== false) await bus.startOutboxRelay({ pool, source: def.name });

    const consumers: RunningConsumer[] = [];
    const app = createHttpServer({
      logger,
      timeouts: {
        requestMs: config.HTTP_REQUEST_TIMEOUT,
        headersMs: config.HTTP_HEADERS_TIMEOUT,
        keepAliveMs: config.HTTP_KEEP_ALIVE_TIMEOUT,
      },
      readiness: [
        // Under the route's own bound (2 s), so that an outage reads "did not answer", not "timed out".
        { name: "postgres", check: () => checkDatabase(pool, READINESS_PROBE_TIMEOUT_MS) },
        { name: "nats", check: () => bus.ping() },
        {
          name: "consumers",
          check: () => {
            const stopped = consumers.filter((c) => !c.running).map((c) => c.durable);
            if (stopped.length > 0) throw new Error(`not consuming: ${stopped.join(", ")}`);
          },
        },
      ],
    });
    if (def.routes) await def.routes(app, ctx);
    const url = await app.listen({ host: config.HTTP_HOST, port: config.HTTP_PORT });
    shutdown.add("http", () => app.close());

    for (const consumer of def.consumers?.(ctx) ?? []) consumers.push(await bus.consume(consumer));
    const stopWork = await def.start?.(ctx);
    if (stopWork) shutdown.add("background work", stopWork);

    logger.info({ url, consumers: consumers.map((c) => c.durable) }, `${def.name} ready`);
    return { ...ctx, app, url, consumers, stop: (reason = "stop requested") => shutdown.run(reason) };
  } catch (err) {
    logger.fatal({ err }, `${def.name} failed to start`);
    await shutdown.run("start-up failed");
    throw err;
  }
}
