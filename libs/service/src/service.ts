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
import {
  type CommonConfig,
  createHttpServer,
  createShutdown,
  exitOnConfigError,
  loadConfig,
  metricsRegistry,
  type Shutdown,
} from "@syncwell/runtime";
import { createLogger, type Logger, repeatedFailureLog, shutdownTelemetry } from "@syncwell/telemetry";
import type { FastifyInstance } from "fastify";
import type pg from "pg";
import type { z } from "zod";

/** What a service's own code receives: everything already connected. */
export type ServiceContext<C extends CommonConfig> = {
  name: string;
  config: C;
  logger: Logger;
  pool: pg.Pool;
  /** Prisma Client over `pool`, for CRUD paths; built on first use (a service without such paths never builds one). */
  readonly prisma: PrismaClient;
  bus: Bus;
  shutdown: Shutdown;
};

/** What a service's `setup` builds: its consumers, its routes, and how to stop its own work. */
export type ServiceParts = {
  /** Durable consumers, as data (see `ConsumerDefinition`). */
  consumers?: ConsumerDefinition[];
  /** Registers the service's HTTP routes (probes and metrics are already there). */
  routes?: (app: FastifyInstance) => void | Promise<void>;
  /**
   * Stops the service's own work (engines, timers). On shutdown it runs once the HTTP server has
   * closed and before the bus and Postgres do, so work in flight can still write what it has.
   */
  stop?: () => Promise<void>;
};

/**
 * A service: its name, its own env schema, and `setup`, which builds its parts (engines,
 * consumers, routes) from the connected context. `runService` takes it; `main.ts` runs it and
 * tests run the same definition in-process with their own env.
 */
export type ServiceDefinition<
  S extends z.ZodObject,
  P extends ServiceParts = ServiceParts,
  C extends CommonConfig = z.output<S> & CommonConfig,
> = {
  /** Service name: logs, traces, NATS connection name, Postgres application_name. */
  name: string;
  /** The service's own env schema: `z.object({ ...commonEnv, ...its own })`. */
  configSchema: S;
  /** Builds the parts; what else it returns (its engine, say) tests reach as `RunningService.parts`. */
  setup?: (ctx: ServiceContext<C>) => P | Promise<P>;
  /** Relay this service's outbox to the bus (default true). */
  outboxRelay?: boolean;
};

/** Where a service runs: production reads process.env and installs signal handlers; tests give their own. */
export type RunOptions = {
  env?: Record<string, string | undefined>;
  /** Install SIGTERM/SIGINT handlers (default true; tests that run services in-process turn it off). */
  handleSignals?: boolean;
  /** Stream limits overrides (tests use small ones). */
  streamOverrides?: StreamOverrides;
};

/** Types a service definition (the config type flows from the schema into `setup`). */
export function defineService<S extends z.ZodObject, P extends ServiceParts = ServiceParts>(
  definition: ServiceDefinition<S, P>,
): ServiceDefinition<S, P> {
  return definition;
}

export type RunningService<
  C extends CommonConfig,
  P extends ServiceParts = ServiceParts,
> = ServiceContext<C> & {
  /** What the definition's `setup` built. */
  parts: P;
  app: FastifyInstance;
  /** Base URL the HTTP server listens on. */
  url: string;
  consumers: RunningConsumer[];
  stop(reason?: string): Promise<void>;
};

/** The running form of a definition: `RunningServiceOf<typeof tokenService>`. */
export type RunningServiceOf<D> =
  D extends ServiceDefinition<infer S, infer P> ? RunningService<z.output<S> & CommonConfig, P> : never;

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

/** Postgres, checked; closed on shutdown. */
async function connectPostgres(
  name: string,
  config: CommonConfig,
  logger: Logger,
  shutdown: Shutdown,
): Promise<pg.Pool> {
  // Every idle connection fails at once when Postgres goes away: one line per interval.
  const idleFailures = repeatedFailureLog(logger, "an idle Postgres connection", {
    level: "warn",
    next: "the pool opens a new one when needed",
  });
  const pool = createPool(config.DATABASE_URL, {
    applicationName: name,
    statementTimeoutMs: config.DATABASE_STATEMENT_TIMEOUT,
    connectTimeoutMs: config.DATABASE_CONNECT_TIMEOUT,
    onError: (err) => idleFailures.failed(err),
    // The services run short statements; a batch's arrays inflate their cost estimates past
    // jit_above_cost, and compiling them then costs tens of ms each (docs/decisions/0017).
    sessionSettings: { jit: "off" },
  });
  shutdown.add("postgres", () => pool.end());
  await checkDatabase(pool, 5_000).catch((err: Error) => {
    throw new Error(`cannot reach Postgres at ${redactDatabaseUrl(config.DATABASE_URL)}: ${err.message}`, {
      cause: err,
    });
  });
  return pool;
}

/** NATS with the streams provisioned; closed on shutdown (consumers and relays first). */
async function connectBus(
  name: string,
  config: CommonConfig,
  logger: Logger,
  shutdown: Shutdown,
  streamOverrides: StreamOverrides | undefined,
): Promise<Bus> {
  const bus = await createBus({
    servers: config.NATS_URL.join(","),
    prefix: config.NATS_PREFIX,
    name,
    ...(config.NATS_USER !== undefined && { user: config.NATS_USER }),
    ...(config.NATS_PASSWORD !== undefined && { password: config.NATS_PASSWORD }),
    logger,
    registry: metricsRegistry,
    streamOverrides: { ...streamOverridesFromEnv(config), ...streamOverrides },
  }).catch((err: Error) => {
    throw new Error(`cannot reach NATS at ${config.NATS_URL.join(",")}: ${err.message}`, { cause: err });
  });
  shutdown.add("nats", () => bus.close());
  await bus.provision();
  return bus;
}

/** The HTTP server with probes: ready while Postgres and NATS answer and every consumer consumes. */
function serviceHttpServer(
  config: CommonConfig,
  logger: Logger,
  pool: pg.Pool,
  bus: Bus,
  consumers: readonly RunningConsumer[],
): FastifyInstance {
  return createHttpServer({
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
}

/**
 * Starts a service: config (exits naming the bad variable), logger, Postgres, NATS with streams
 * provisioned, outbox relay, the service's own parts (`setup`), the HTTP server with /healthz,
 * /readyz and /metrics, and its consumers; and stops all of it in reverse order on SIGTERM.
 * Telemetry is started before this module is imported (`node --import @syncwell/telemetry/register`).
 */
export async function runService<S extends z.ZodObject, P extends ServiceParts = ServiceParts>(
  def: ServiceDefinition<S, P>,
  options: RunOptions = {},
): Promise<RunningService<z.output<S> & CommonConfig, P>> {
  type C = z.output<S> & CommonConfig;
  let config: C;
  try {
    config = loadConfig(def.configSchema, options.env ?? process.env) as C;
  } catch (err) {
    return exitOnConfigError(err);
  }
  const logger = createLogger({ service: def.name, level: config.LOG_LEVEL, pretty: config.LOG_PRETTY });
  const shutdown = createShutdown({ logger, timeoutMs: config.SHUTDOWN_TIMEOUT_MS });
  if (options.handleSignals !== false) shutdown.installSignalHandlers();
  shutdown.add("telemetry", () => shutdownTelemetry());

  try {
    const pool = await connectPostgres(def.name, config, logger, shutdown);
    const bus = await connectBus(def.name, config, logger, shutdown, options.streamOverrides);
    let prisma: PrismaClient | undefined;
    shutdown.add("prisma", async () => prisma?.$disconnect());
    const ctx: ServiceContext<C> = {
      name: def.name,
      config,
      logger,
      pool,
      bus,
      shutdown,
      get prisma() {
        prisma ??= createPrismaClient(pool);
        return prisma;
      },
    };

    // Each service relays the rows it wrote: a service deployed with older contracts never
    // validates (or counts) another service's newer events.
    if (def.outboxRelay !== false) await bus.startOutboxRelay({ pool, source: def.name });

    const parts = (await def.setup?.(ctx)) ?? ({} as P);
    if (parts.stop) shutdown.add(`${def.name} work`, parts.stop);
    const consumers: RunningConsumer[] = [];
    const app = serviceHttpServer(config, logger, pool, bus, consumers);
    await parts.routes?.(app);
    const url = await app.listen({ host: config.HTTP_HOST, port: config.HTTP_PORT });
    shutdown.add("http", () => app.close());
    for (const consumer of parts.consumers ?? []) consumers.push(await bus.consume(consumer));

    logger.info({ url, consumers: consumers.map((c) => c.durable) }, `${def.name} ready`);
    // Extends the context in place: a spread would build the Prisma client through its getter.
    return Object.assign(ctx, {
      parts,
      app,
      url,
      consumers,
      stop: (reason = "stop requested") => shutdown.run(reason),
    });
  } catch (err) {
    logger.fatal({ err }, `${def.name} failed to start`);
    await shutdown.run("start-up failed");
    throw err;
  }
}
