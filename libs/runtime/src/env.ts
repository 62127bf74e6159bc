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
  /** Postgres connection string (may carry a password; never printed). */
  DATABASE_URL: envUrl({ protocols: ["postgres:", "postgresql:"] }).describe(
    "Postgres URL, e.g. postgresql://user@host:5432/db",
  ),
  /** NATS servers. */
  NATS_URL: envNatsServers().default(["nats://127.0.0.1:4222"]),
  /** Prefix of this deployment's subjects and streams, so several deployments can share a NATS. */
  NATS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]*$/, "is not a valid prefix")
    .default("")
    .describe("letters, digits, _ and -; empty for none"),
  /** Upper bound on graceful shutdown before the process exits 1. */
  SHUTDOWN_TIMEOUT_MS: envDurationMs().default(15_000),
};
