import { type ProviderId, providerIds } from "@syncwell/contracts";
import {
  cipherFromKeyConfig,
  type KeyConfig,
  keyConfigIssues,
  type TokenCipher,
} from "@syncwell/credentials";
import { ConfigError, commonEnv, envDurationMs, envInt, envPort, envUrl } from "@syncwell/runtime";
import { z } from "zod";

/** The token service knows every provider of the contracts (domain/providers.ts has their OAuth details). */
export { type ProviderId, providerIds };

/** `github-app` → `GITHUB_APP`, the infix of its PROVIDER_<ID>_* variables. */
export function providerEnvName(id: ProviderId): string {
  return id.toUpperCase().replaceAll("-", "_");
}

const providerEnv = Object.fromEntries(
  providerIds.flatMap((id) => {
    const p = `PROVIDER_${providerEnvName(id)}`;
    return [
      [
        `${p}_CLIENT_ID`,
        z.string().min(1).optional().describe(`OAuth client id for ${id}; unset disables ${id}`),
      ],
      [`${p}_CLIENT_SECRET`, z.string().min(1).optional().describe(`OAuth client secret for ${id}`)],
      [
        `${p}_TOKEN_URL`,
        envUrl({ protocols: ["http:", "https:"] })
          .optional()
          .describe(`token endpoint override for ${id} (the simulator, locally)`),
      ],
      [
        `${p}_RATE_LIMIT_PER_SEC`,
        envInt({ min: 1 }).optional().describe(`refresh requests per second to ${id} across all replicas`),
      ],
      [
        `${p}_CONCURRENCY`,
        envInt({ min: 1, max: 1000 }).optional().describe(`refreshes in flight to ${id} per replica`),
      ],
    ];
  }),
) as Record<string, z.ZodType>;

/** Environment of the token service. Shared variables come from commonEnv; its own are below. */
export const configSchema = z.object({
  ...commonEnv,
  HTTP_PORT: envPort().default(3002),
  /** Bearer secret for the connections API (other services and operators). */
  TOKEN_SERVICE_API_TOKEN: z
    .string()
    .min(16)
    .describe("bearer secret of at least 16 characters for the connections API"),
  /** `<keyId>:<base64 32-byte key>`, comma-separated; old keys stay listed until re-encryption ran. */
  TOKEN_ENCRYPTION_KEYS: z.string().min(1).describe("comma-separated <keyId>:<base64 32-byte key>"),
  /** Key id new ciphertexts are written with. */
  TOKEN_ENCRYPTION_CURRENT_KEY: z.string().min(1).describe("one of the key ids in TOKEN_ENCRYPTION_KEYS"),
  /** Refresh access tokens expiring within this window. */
  REFRESH_LEAD_TIME: envDurationMs().default(10 * 60_000),
  /** Refresh tokens unused for this long are exercised anyway (providers revoke idle ones). */
  REFRESH_IDLE_MAX: envDurationMs().default(24 * 60 * 60_000),
  /** Connections claimed per database round trip during a refresh tick. */
  REFRESH_BATCH_SIZE: envInt({ min: 1, max: 5_000 }).default(200),
  /** Default refreshes in flight per provider per replica (PROVIDER_<ID>_CONCURRENCY overrides). */
  REFRESH_CONCURRENCY: envInt({ min: 1, max: 1_000 }).default(32),
  /**
   * Time to connect to the token endpoint and send one request; past it nothing reached the
   * provider, and the attempt counts as a transient failure.
   */
  REFRESH_TIMEOUT: envDurationMs().default(10_000),
  /**
   * Time to wait for the answer once a request is out. The provider may already have rotated the
   * refresh token: its answer is the only copy of the new one, so this is long on purpose.
   */
  REFRESH_ANSWER_TIMEOUT: envDurationMs().default(60_000),
  /**
   * Bound on graceful shutdown: room to wait for answers in flight (REFRESH_ANSWER_TIMEOUT) and
   * write them. Kubernetes' terminationGracePeriodSeconds must exceed it.
   */
  SHUTDOWN_TIMEOUT_MS: envDurationMs().default(75_000),
  /**
   * How long a claimed connection stays off-limits to other replicas; a crashed replica's claims
   * are taken over after it. Must exceed REFRESH_TIMEOUT (a request is only started while at least
   * REFRESH_TIMEOUT + 2 s of the lease remain).
   */
  REFRESH_CLAIM_LEASE: envDurationMs().default(60_000),
  ...providerEnv,
});

export type Config = z.output<typeof configSchema>;

/**
 * The schema plus the key checks, so a bad key configuration stops the service at config time,
 * with the runtime's usual error naming the variable, before anything connects.
 */
export function withKeyConfigCheck<S extends z.ZodObject>(schema: S): S {
  return schema.superRefine((value, ctx) => {
    for (const issue of keyConfigIssues(value as Partial<KeyConfig>)) {
      ctx.addIssue({ code: "custom", path: [issue.variable], message: issue.message });
    }
  });
}

/** Builds the keyring from the configuration; throws a ConfigError naming the variable when it is bad. */
export function cipherFromConfig(config: KeyConfig): TokenCipher {
  const issues = keyConfigIssues(config);
  if (issues.length > 0) throw new ConfigError(issues);
  return cipherFromKeyConfig(config);
}

/**
 * The service's schema with the encryption keys checked too: a bad TOKEN_ENCRYPTION_KEYS /
 * TOKEN_ENCRYPTION_CURRENT_KEY stops the start with the runtime's config error naming the variable
 * (never the key material), before anything connects.
 */
export const tokenServiceConfigSchema = withKeyConfigCheck(configSchema);
