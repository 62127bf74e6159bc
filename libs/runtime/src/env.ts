import { z } from "zod";

/**
 * Env field builders. Each returns a zod schema from the raw string to a typed value; its
 * `.describe()` text is what a ConfigError prints as the expected form, and its own error messages
 * read as the end of "NAME: "value" …" (e.g. "is not a valid port").
 */

function fail(ctx: z.RefinementCtx, input: string, message: string): never {
  ctx.issues.push({ code: "custom", message, input });
  return z.NEVER as never;
}

const TRUE = new Set(["true", "1", "yes", "on"]);
const FALSE = new Set(["false", "0", "no", "off"]);

/** true/false, 1/0, yes/no, on/off (any case). */
export function envBool() {
  return z
    .string()
    .transform((raw, ctx) => {
      const value = raw.trim().toLowerCase();
      if (TRUE.has(value)) return true;
      if (FALSE.has(value)) return false;
      return fail(ctx, raw, "is not a boolean");
    })
    .describe("true or false");
}

export function envInt(options: { min?: number; max?: number } = {}) {
  const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = options;
  const range =
    options.min !== undefined && options.max !== undefined
      ? ` ${min}-${max}`
      : options.min !== undefined
        ? ` >= ${min}`
        : options.max !== undefined
          ? ` <= ${max}`
          : "";
  return z
    .string()
    .transform((raw, ctx) => {
      const value = raw.trim();
      if (!/^[-+]?\d+$/.test(value)) return fail(ctx, raw, "is not an integer");
      const n = Number(value);
      if (n < min || n > max) return fail(ctx, raw, `is out of range`);
      return n;
    })
    .describe(`integer${range}`);
}

export function envPort() {
  return z
    .string()
    .transform((raw, ctx) => {
      const value = raw.trim();
      const n = Number(value);
      if (!/^\d+$/.test(value) || n < 1 || n > 65535) return fail(ctx, raw, "is not a valid port");
      return n;
    })
    .describe("integer 1-65535");
}

/** An absolute URL; `protocols` (e.g. ["postgres:", "postgresql:"]) restricts the scheme. */
export function envUrl(options: { protocols?: string[] } = {}) {
  const { protocols } = options;
  return z
    .string()
    .transform((raw, ctx) => {
      const value = raw.trim();
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        return fail(ctx, raw, "is not a valid URL");
      }
      if (protocols && !protocols.includes(url.protocol)) {
        return fail(ctx, raw, `has scheme ${url.protocol.replace(/:$/, "")}, not ${listSchemes(protocols)}`);
      }
      return value;
    })
    .describe(protocols ? `${listSchemes(protocols)} URL` : "absolute URL");
}

function listSchemes(protocols: string[]): string {
  return protocols.map((p) => p.replace(/:$/, "")).join(" or ");
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses 500ms / 10s / 5m / 1h / 1.5s, or plain milliseconds, into milliseconds. */
export function parseDurationMs(raw: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/i.exec(raw.trim());
  if (!match?.[1]) return undefined;
  const unit = UNIT_MS[(match[2] ?? "ms").toLowerCase()] ?? 1;
  return Math.round(Number(match[1]) * unit);
}

export function envDurationMs() {
  return z
    .string()
    .transform((raw, ctx) => parseDurationMs(raw) ?? fail(ctx, raw, "is not a valid duration"))
    .describe("duration: 500ms, 10s, 5m, 1h, or plain milliseconds");
}

const BYTE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

/** `512MiB`, `4GiB`, `1048576` → bytes; undefined when malformed. */
export function parseBytes(raw: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(raw.trim());
  const unit = BYTE_UNITS[(match?.[2] ?? "").toLowerCase()];
  if (!match || unit === undefined) return undefined;
  return Math.round(Number(match[1]) * unit);
}

export function envBytes() {
  return z
    .string()
    .transform((raw, ctx) => parseBytes(raw) ?? fail(ctx, raw, "is not a size"))
    .describe("size: 512MiB, 4GiB, or plain bytes");
}

/** Comma-separated NATS server URLs, returned as a list (what nats.js takes as `servers`). */
export function envNatsServers() {
  return z
    .string()
    .transform((raw, ctx) => {
      const servers = raw
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
      if (servers.length === 0) return fail(ctx, raw, "lists no server");
      for (const server of servers) {
        if (!/^(nats|tls|ws|wss):\/\/[^\s/]+$/.test(server) && !/^[^\s/:]+:\d+$/.test(server)) {
          return fail(ctx, raw, "is not a valid NATS server list");
        }
      }
      return servers;
    })
    .describe("NATS URL(s), comma-separated, e.g. nats://127.0.0.1:4222");
}

/**
 * Time limits of every service's HTTP server (`HTTP_*_TIMEOUT`), in ms. Also the defaults of
 * `createHttpServer`, so a server built without the env has them too.
 */
export const HTTP_TIMEOUT_DEFAULTS = {
  /** Whole request, headers and body: a JSON body of at most 1 MiB arrives well within it. */
  requestMs: 30_000,
  /** Headers alone: a client that cannot send a few hundred bytes in this time never will. */
  headersMs: 10_000,
  /** Idle keep-alive connection: above the 60 s idle timeout of common proxies (AWS ALB, nginx). */
  keepAliveMs: 72_000,
} as const;

/**
 * Variables every service reads. A service builds its own schema from these and its own fields:
 * `z.object({ ...commonEnv, TOKEN_ENCRYPTION_KEYS: … })` — there is no global schema.
 */
export const commonEnv = {
  /** Deployment mode; production turns off development conveniences. */
  NODE_ENV: z
    .enum(["development", "test", "production"])
    .default("development")
    .describe("development|test|production"),
  /** pino level. */
  LOG_LEVEL: z
    .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"])
    .default("info")
    .describe("fatal|error|warn|info|debug|trace|silent"),
  /** Human-readable logs (pino-pretty) for a terminal; never in production. */
  LOG_PRETTY: envBool().default(false),
  /** Interface the HTTP server (probes, metrics, API) binds to. */
  HTTP_HOST: z.string().default("0.0.0.0").describe("host name or IP address to listen on"),
  /** Port of the HTTP server; services override the default so they can share a laptop. */
  HTTP_PORT: envPort().default(8080),
  /**
   * Time for a client to send its whole request (headers and body), then 408 and the connection is
   * closed: a body that stalls after authentication holds a connection no longer than this.
   */
  HTTP_REQUEST_TIMEOUT: envDurationMs().default(HTTP_TIMEOUT_DEFAULTS.requestMs),
  /** Time for a client to send its request headers (at most HTTP_REQUEST_TIMEOUT), then 408. */
  HTTP_HEADERS_TIMEOUT: envDurationMs().default(HTTP_TIMEOUT_DEFAULTS.headersMs),
  /**
   * An idle keep-alive connection is closed after this. Longer than the idle timeout of a proxy in
   * front, so that the proxy closes first and never sends a request on a connection being closed.
   */
  HTTP_KEEP_ALIVE_TIMEOUT: envDurationMs().default(HTTP_TIMEOUT_DEFAULTS.keepAliveMs),
  /** Postgres connection string (may carry a password; never printed). */
  DATABASE_URL: envUrl({ protocols: ["postgres:", "postgresql:"] }).describe(
    "Postgres URL, e.g. postgresql://user@host:5432/db",
  ),
  /** Postgres cancels a statement of this service that runs longer (`statement_timeout`). */
  DATABASE_STATEMENT_TIMEOUT: envDurationMs().default(60_000),
  /** Time to open a Postgres connection before the attempt fails (and is retried by its caller). */
  DATABASE_CONNECT_TIMEOUT: envDurationMs().default(5_000),
  /** NATS servers. */
  NATS_URL: envNatsServers().default(["nats://127.0.0.1:4222"]),
  /** Prefix of this deployment's subjects and streams, so several deployments can share a NATS. */
  NATS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]*$/, "is not a valid prefix")
    .default("")
    .describe("letters, digits, _ and -; empty for none"),
  /**
   * This service's NATS user and password (deploy/nats.conf gives each service its own, allowed
   * only what it produces and consumes). Unset: connect without authentication (a local server).
   */
  NATS_USER: z.string().min(1).optional().describe("NATS user name, e.g. poller"),
  NATS_PASSWORD: z.string().min(1).optional().describe("password of NATS_USER"),
  /** Upper bound on graceful shutdown before the process exits 1. */
  SHUTDOWN_TIMEOUT_MS: envDurationMs().default(15_000),
  /**
   * Stream sizing for this deployment; unset keeps the defaults in libs/contracts/src/streams.ts.
   * JetStream 2.9 reserves max bytes at creation, so a shared server needs modest values.
   */
  NATS_STREAM_MAX_BYTES: envBytes().optional(),
  NATS_STREAM_MAX_AGE: envDurationMs().optional(),
  /** Copies of each stream in a clustered JetStream (1 for a single server). */
  NATS_STREAM_REPLICAS: envInt({ min: 1, max: 5 }).optional(),
  NATS_STREAM_STORAGE: z.enum(["file", "memory"]).optional().describe("file|memory"),
};

const commonSchema = z.object(commonEnv);
/** The configuration every service has (its own schema extends `commonEnv`). */
export type CommonConfig = z.output<typeof commonSchema>;
