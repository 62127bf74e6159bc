import { commonEnv, envBool, envDurationMs, envInt, envPort } from "@syncwell/runtime";
import { z } from "zod";
import { emailChannelConfigFields } from "./adapters/email/index.ts";
import { type Parsed, parsePublicKeys, parseSharedSecrets } from "./domain/access-keys.ts";
import { reconnectUrlProblem } from "./domain/notifications.ts";
import type { NotifySettings } from "./domain/rules.ts";
import type { EmailDeliverySettings } from "./engine/email-delivery.ts";
import type { AccessTokenSettings } from "./routes/access-token.ts";

/** The reconnect link when NOTIFY_RECONNECT_URL is unset: the web app run locally. */
export const DEFAULT_RECONNECT_URL = "http://localhost:3000/connections/{connectionId}/reconnect";

const HOUR_MS = 3_600_000;

/** Failed refreshes in a row: a rung of the ladder. */
function envFailures(meaning: string, defaultValue: number) {
  return envInt({ min: 1, max: 100 })
    .default(defaultValue)
    .describe(`${meaning} (integer 1-100; default ${defaultValue})`);
}

/** A link template checked as the domain fills it in (`reconnectUrlProblem`). */
function envReconnectUrl() {
  return z
    .string()
    .transform((raw, ctx) => {
      const template = raw.trim();
      const problem = reconnectUrlProblem(template);
      if (problem) {
        ctx.issues.push({ code: "custom", message: problem, input: raw });
        return z.NEVER;
      }
      return template;
    })
    .default(DEFAULT_RECONNECT_URL)
    .describe(
      `link in a "disconnected" notification, an http(s) URL whose {connectionId} and {provider} are filled in (default ${DEFAULT_RECONNECT_URL})`,
    );
}

/** Environment of the notifier. Shared variables come from commonEnv; its own are below. */
export const configSchema = z.object({
  ...commonEnv,
  HTTP_PORT: envPort().default(3005),
  ...emailChannelConfigFields,
  ...emailDeliveryEnv(),
  /** The token service's `warning` rung: failures of any kind in a row. */
  NOTIFY_WARNING_AFTER: envFailures("failed refreshes in a row, of any kind, that warn the user in-app", 2),
  /** The token service's `needs_reauth` rung; a failure it already gave up on counts at once. */
  NOTIFY_DISCONNECTED_AFTER: envFailures(
    "non-transient failed refreshes in a row that tell the user, in-app and by email, to reconnect",
    3,
  ),
  /** The token service's `rate_limited` rung. */
  NOTIFY_RATE_LIMITED_AFTER: envFailures(
    "transient failed refreshes in a row that tell the user in-app the provider is limiting Syncwell",
    5,
  ),
  /** A flapping subject is told each kind of notification at most once in this time. */
  NOTIFY_COOLDOWN: envDurationMs()
    .refine((ms) => ms >= 1000, "must be at least 1s")
    .default(6 * HOUR_MS)
    .describe(
      "time in which a subject is not told the same kind of notification again; a disconnection is always told (duration: 500ms, 10s, 5m, 1h; default 6h)",
    ),
  NOTIFY_RECONNECT_URL: envReconnectUrl(),
  /** Until per-user channel preferences exist, this decides for everyone. */
  NOTIFY_HEALTH_EMAIL: envBool()
    .default(false)
    .describe(
      "health notifications (critical, ghost, stalled) go by email too: true or false (default false)",
    ),
  ...inAppApiEnv(),
});

export type Config = z.output<typeof configSchema>;

/** A key list parsed by `parse`; its messages name entries by position, never quote a secret. */
function envAccessKeys(parse: (raw: string) => Parsed, form: string) {
  return z
    .string()
    .transform((raw, ctx) => {
      const { keys, problems } = parse(raw);
      // One issue: the configuration error shows one message per variable.
      if (problems.length > 0) ctx.issues.push({ code: "custom", message: problems.join("; "), input: raw });
      return keys;
    })
    .optional()
    .describe(form);
}

/**
 * The in-app API (issue 15): bearer JWTs signed by the app's backend with any of the listed keys
 * (several at once, so keys rotate). With neither key list set the service serves no API.
 */
function inAppApiEnv() {
  return {
    NOTIFY_JWT_KEYS: envAccessKeys(
      parseSharedSecrets,
      "HS256 secrets of the in-app API's tokens: kid:secret entries, comma-separated, secrets of at least 32 bytes",
    ),
    NOTIFY_JWT_PUBLIC_KEYS: envAccessKeys(
      parsePublicKeys,
      'public keys of the in-app API\'s tokens: a JSON Web Key Set {"keys": [...]}, each with kid and alg RS256, PS256, ES256 or EdDSA',
    ),
    NOTIFY_JWT_AUDIENCE: z
      .string()
      .trim()
      .min(1)
      .default("syncwell-notifier")
      .describe("the `aud` a token must carry (default syncwell-notifier)"),
    NOTIFY_JWT_ISSUER: z
      .string()
      .trim()
      .min(1)
      .optional()
      .describe("the `iss` a token must carry; unset: any"),
    NOTIFY_STREAMS_PER_USER: envInt({ min: 1, max: 100 })
      .default(5)
      .describe("live streams one user may hold open on one replica (integer 1-100; default 5)"),
  };
}

/** Rungs that must come after the warning, or the warning would never be seen. */
const afterWarning = ["NOTIFY_DISCONNECTED_AFTER", "NOTIFY_RATE_LIMITED_AFTER"] as const;

/** The schema with its cross-field checks: a ladder out of order stops the start naming the variable. */
export const notifierConfigSchema = configSchema.superRefine((value, ctx) => {
  for (const rung of afterWarning) {
    if (value.NOTIFY_WARNING_AFTER >= value[rung]) {
      ctx.addIssue({
        code: "custom",
        path: ["NOTIFY_WARNING_AFTER"],
        message: `must be below ${rung} (${value[rung]})`,
      });
    }
  }
});

/** How the in-app API verifies tokens; null when no key is configured (no API). */
export function accessTokenSettings(config: Config): AccessTokenSettings | null {
  const keys = [...(config.NOTIFY_JWT_KEYS ?? []), ...(config.NOTIFY_JWT_PUBLIC_KEYS ?? [])];
  if (keys.length === 0) return null;
  return {
    keys,
    audience: config.NOTIFY_JWT_AUDIENCE,
    ...(config.NOTIFY_JWT_ISSUER !== undefined && { issuer: config.NOTIFY_JWT_ISSUER }),
  };
}

export function notifySettings(config: Config): NotifySettings {
  return {
    warningAfter: config.NOTIFY_WARNING_AFTER,
    disconnectedAfter: config.NOTIFY_DISCONNECTED_AFTER,
    rateLimitedAfter: config.NOTIFY_RATE_LIMITED_AFTER,
    cooldownMs: config.NOTIFY_COOLDOWN,
    reconnectUrl: config.NOTIFY_RECONNECT_URL,
    healthEmail: config.NOTIFY_HEALTH_EMAIL,
  };
}

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/i;

/**
 * What is valid but suspect, for the service to log at start: in production, reconnect links that
 * users cannot open (the local default, a loopback host) or that travel unencrypted. A warning, not
 * a refusal, as for the other services' overrides: the local compose file runs in production mode.
 */
export function configWarnings(config: Config): string[] {
  if (config.NODE_ENV !== "production") return [];
  const url = new URL(config.NOTIFY_RECONNECT_URL.replace(/\{[^{}]*\}/g, "x"));
  const warnings: string[] = [];
  if (LOOPBACK.test(url.hostname)) {
    warnings.push(`NOTIFY_RECONNECT_URL points at ${url.hostname}: users cannot open the reconnect link`);
  }
  if (url.protocol !== "https:") warnings.push("NOTIFY_RECONNECT_URL is not https");
  return warnings;
}

/** Sends per second: a positive number (Resend counts requests per second, fractions allowed). */
function envRatePerSec(defaultValue: number) {
  return z
    .string()
    .transform((raw, ctx) => {
      const n = Number(raw.trim());
      if (raw.trim() === "" || !Number.isFinite(n) || n <= 0) {
        ctx.issues.push({ code: "custom", message: "is not a positive number", input: raw });
        return z.NEVER;
      }
      return n;
    })
    .default(defaultValue);
}

/**
 * The email worker (issue 15, "Email"): its share of the vendor's limit, claims and retries. The
 * vendor itself (EMAIL_FROM, RESEND_API_KEY, RESEND_BASE_URL, EMAIL_SEND_TIMEOUT) is
 * `emailChannelConfigFields`.
 */
function emailDeliveryEnv() {
  return {
    /** Resend's default team limit is 2 requests per second; every replica together stays under it. */
    EMAIL_RATE_LIMIT_PER_SEC: envRatePerSec(2).describe(
      "emails sent per second by all replicas together, the team's limit at Resend (positive number; default 2)",
    ),
    EMAIL_CONCURRENCY: envInt({ min: 1, max: 100 })
      .default(4)
      .describe("emails one replica sends at once (integer 1-100; default 4)"),
    EMAIL_BATCH_SIZE: envInt({ min: 1, max: 1000 })
      .default(20)
      .describe("email messages one replica claims at once (integer 1-1000; default 20)"),
    EMAIL_CLAIM_LEASE: envDurationMs()
      .refine((ms) => ms >= 1000, "must be at least 1s")
      .default(120_000)
      .describe("how long a claimed email is held before another replica may take it over (default 2m)"),
    EMAIL_POLL_INTERVAL: envDurationMs()
      .refine((ms) => ms >= 50, "must be at least 50ms")
      .default(5_000)
      .describe("how often a replica looks for due emails when nothing woke it (default 5s)"),
    EMAIL_MAX_ATTEMPTS: envInt({ min: 1, max: 100 })
      .default(8)
      .describe("tries of one email (429, 5xx, no answer) before it fails (integer 1-100; default 8)"),
    EMAIL_BACKOFF_BASE: envDurationMs()
      .default(30_000)
      .describe("wait before the first retry of an email, doubling each time (default 30s)"),
    EMAIL_BACKOFF_MAX: envDurationMs()
      .default(30 * 60_000)
      .describe("longest wait between two tries of an email (default 30m)"),
  };
}

/**
 * Resend keeps an idempotency key 24 hours: an email is not retried once it is older than this,
 * so a retry can never send it a second time.
 */
const EMAIL_MAX_AGE_MS = 23 * HOUR_MS;

export function emailDeliverySettings(config: Config): Omit<EmailDeliverySettings, "from"> {
  return {
    replyTo: config.EMAIL_REPLY_TO,
    ratePerSec: config.EMAIL_RATE_LIMIT_PER_SEC,
    batchSize: config.EMAIL_BATCH_SIZE,
    concurrency: config.EMAIL_CONCURRENCY,
    leaseMs: config.EMAIL_CLAIM_LEASE,
    pollIntervalMs: config.EMAIL_POLL_INTERVAL,
    retry: {
      maxAttempts: config.EMAIL_MAX_ATTEMPTS,
      backoff: { initialDelayMs: config.EMAIL_BACKOFF_BASE, maxDelayMs: config.EMAIL_BACKOFF_MAX },
      maxAgeMs: EMAIL_MAX_AGE_MS,
    },
  };
}
