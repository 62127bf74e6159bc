import { keyConfigIssues } from "@syncwell/credentials";
import { commonEnv, envDurationMs, envInt, envPort, envUrl } from "@syncwell/runtime";
import { z } from "zod";
import { parseIntervals } from "./domain/schedule.ts";

/**
 * Platforms whose settings can be set from the environment (`PLATFORM_<P>_*`). A connector for
 * another platform still runs, with the defaults.
 */
export const knownPlatforms = ["gmail", "calendar", "youtube", "spotify", "github", "discord"] as const;

/** `gmail` → `GMAIL`, the infix of its PLATFORM_<P>_* variables. */
export function platformEnvName(platform: string): string {
  return platform.toUpperCase().replaceAll(/[^A-Z0-9]/g, "_");
}

/**
 * Requests per second each platform gets from all replicas together when PLATFORM_<P>_RATE_LIMIT_PER_SEC
 * is unset: well under what each API documents for one application (Gmail and Calendar per-project
 * quotas, YouTube's daily quota units, Spotify's rolling window, GitHub's secondary limits, Discord's
 * global 50/s), so a default deployment never trips them.
 */
export const defaultRateLimitPerSec: Record<string, number> = {
  gmail: 100,
  calendar: 50,
  youtube: 10,
  spotify: 20,
  github: 20,
  discord: 40,
};

const platformEnv = Object.fromEntries(
  knownPlatforms.flatMap((platform) => {
    const p = `PLATFORM_${platformEnvName(platform)}`;
    return [
      [
        `${p}_API_URL`,
        envUrl({ protocols: ["http:", "https:"] })
          .optional()
          .describe(`API base URL override for ${platform} (the simulator, locally)`),
      ],
      [
        `${p}_RATE_LIMIT_PER_SEC`,
        z
          .string()
          .transform((raw, ctx) => {
            const n = Number(raw.trim());
            if (!Number.isFinite(n) || n <= 0) {
              ctx.issues.push({ code: "custom", message: "is not a positive number", input: raw });
              return z.NEVER;
            }
            return n;
          })
          .optional()
          .describe(`requests per second to ${platform} across all replicas (a positive number)`),
      ],
      [
        `${p}_RATE_LIMIT_BURST`,
        envInt({ min: 1 })
          .optional()
          .describe(`requests ${platform} may get at once (default: one second's worth)`),
      ],
      [
        `${p}_CONCURRENCY`,
        envInt({ min: 1, max: 10_000 }).optional().describe(`polls of ${platform} in flight per replica`),
      ],
    ];
  }),
) as Record<string, z.ZodType>;

function envIntervals() {
  return z
    .string()
    .transform((raw, ctx) => {
      const parsed = parseIntervals(raw);
      if (!parsed.ok) {
        ctx.issues.push({
          code: "custom",
          message: `is not a valid interval list: ${parsed.error}`,
          input: raw,
        });
        return z.NEVER;
      }
      return parsed.intervals;
    })
    .describe('comma-separated <platform>[.<resource>]=<duration>, e.g. "gmail.messages=15m,github=10m"');
}

/** Environment of the poller. Shared variables come from commonEnv; its own are below. */
export const configSchema = z.object({
  ...commonEnv,
  HTTP_PORT: envPort().default(3003),
  /** `<keyId>:<base64 32-byte key>`, comma-separated: the token service's keys (the poller only decrypts). */
  TOKEN_ENCRYPTION_KEYS: z.string().min(1).describe("comma-separated <keyId>:<base64 32-byte key>"),
  /** The token service's current key id (must be listed in TOKEN_ENCRYPTION_KEYS). */
  TOKEN_ENCRYPTION_CURRENT_KEY: z.string().min(1).describe("one of the key ids in TOKEN_ENCRYPTION_KEYS"),
  /** How often each resource is polled when POLL_INTERVALS does not name it. */
  POLL_INTERVAL: envDurationMs().default(30 * 60_000),
  /** Per platform or platform.resource intervals, overriding POLL_INTERVAL. */
  POLL_INTERVALS: envIntervals().default(new Map()),
  /**
   * A resource is polled only with an access token valid for at least this long; connections whose
   * token expires sooner wait for the token service's refresh (token.refreshed picks them up).
   */
  POLL_TOKEN_MIN_VALIDITY: envDurationMs().default(2 * 60_000),
  /** Resource polls in flight per replica, all platforms together. */
  POLL_CONCURRENCY: envInt({ min: 1, max: 10_000 }).default(64),
  /** Resource polls in flight per replica and platform (PLATFORM_<P>_CONCURRENCY overrides). */
  POLL_PLATFORM_CONCURRENCY: envInt({ min: 1, max: 10_000 }).default(32),
  /** One platform request gives up after this long (a transient failure). */
  POLL_REQUEST_TIMEOUT: envDurationMs().default(15_000),
  /**
   * How long a claimed sync state stays off-limits to other replicas; renewed with every page, so a
   * crashed replica's claims are taken over after this. Must exceed POLL_REQUEST_TIMEOUT.
   */
  POLL_CLAIM_LEASE: envDurationMs().default(5 * 60_000),
  /** Sync states claimed per database round trip. */
  POLL_BATCH_SIZE: envInt({ min: 1, max: 5_000 }).default(64),
  /** Pages per poll before the resource yields to others (it resumes from its page token right after). */
  POLL_MAX_PAGES: envInt({ min: 1, max: 10_000 }).default(50),
  /** First retry delay after a transient failure (5xx, timeout); doubles per failure, with jitter. */
  POLL_BACKOFF_BASE: envDurationMs().default(30_000),
  /** Longest delay between retries of a failing resource. */
  POLL_BACKOFF_MAX: envDurationMs().default(6 * 60 * 60_000),
  /** After a 401 the resource waits this long for the refreshed token (token.refreshed ends the wait early). */
  POLL_UNAUTHORIZED_DELAY: envDurationMs().default(10 * 60_000),
  /**
   * A tick's run also waits for work that becomes due within this long (a provider's Retry-After, a
   * quick retry after a 5xx), instead of leaving it to the next tick.
   */
  POLL_RUN_HORIZON: envDurationMs().default(60_000),
  /** How far back a first sync of a time-windowed resource reaches (e.g. Gmail's first listing). */
  POLL_FIRST_SYNC_WINDOW: envDurationMs().default(30 * 24 * 60 * 60_000),
  ...platformEnv,
});

export type Config = z.output<typeof configSchema>;

/** Per-platform settings read from PLATFORM_<P>_* (unset fields are undefined). */
export type PlatformEnvSettings = {
  apiUrl?: string;
  rateLimitPerSec?: number;
  rateLimitBurst?: number;
  concurrency?: number;
};

export function platformEnvSettings(config: Config, platform: string): PlatformEnvSettings {
  const values = config as unknown as Record<string, unknown>;
  const p = `PLATFORM_${platformEnvName(platform)}`;
  const pick = <T>(name: string) => values[`${p}_${name}`] as T | undefined;
  return {
    apiUrl: pick<string>("API_URL"),
    rateLimitPerSec: pick<number>("RATE_LIMIT_PER_SEC"),
    rateLimitBurst: pick<number>("RATE_LIMIT_BURST"),
    concurrency: pick<number>("CONCURRENCY"),
  };
}

/**
 * The poller's schema with cross-field checks: the key list parses and names the current key, and
 * the claim lease outlives a request. A bad value stops the start naming the variable.
 */
export const pollerConfigSchema = configSchema.superRefine((value, ctx) => {
  for (const issue of keyConfigIssues(value))
    ctx.addIssue({ code: "custom", path: [issue.variable], message: issue.message });
  if (value.POLL_CLAIM_LEASE < value.POLL_REQUEST_TIMEOUT * 2) {
    ctx.addIssue({
      code: "custom",
      path: ["POLL_CLAIM_LEASE"],
      message:
        "must be at least twice POLL_REQUEST_TIMEOUT (a claim must outlive the requests made under it)",
    });
  }
});
