import type { ServiceContext } from "@syncwell/runtime";
import type { FastifyInstance } from "fastify";
import { type Config, configSchema, providerIds } from "./config.ts";
import { registerConnectionRoutes } from "./routes/index.ts";
import { cipherFromConfig, withKeyConfigCheck } from "./token-keys.ts";

/**
 * The token service's configuration schema with the encryption keys checked too: a bad
 * TOKEN_ENCRYPTION_KEYS / TOKEN_ENCRYPTION_CURRENT_KEY stops the start with the runtime's config
 * error naming the variable (never the key material), before anything connects.
 */
export const tokenServiceConfigSchema = withKeyConfigCheck(configSchema);

/** `routes` of the service definition: the connections API. */
export async function registerRoutes(app: FastifyInstance, ctx: ServiceContext<Config>): Promise<void> {
  await registerConnectionRoutes(app, {
    pool: ctx.pool,
    cipher: cipherFromConfig(ctx.config),
    apiToken: ctx.config.TOKEN_SERVICE_API_TOKEN,
    providers: providerIds,
    source: ctx.name,
  });
}
