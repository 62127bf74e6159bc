import { defineService } from "@syncwell/service";
import { cipherFromConfig, providerIds, tokenServiceConfigSchema } from "./config.ts";
import { tokenServiceConsumers } from "./consumers/index.ts";
import { startRefresh } from "./engine/start-refresh.ts";
import { registerConnectionRoutes } from "./routes/index.ts";

/**
 * The token service: owns users' OAuth credentials (the connections API) and refreshes access
 * tokens before they expire, on ticks and on request. main.ts runs it; tests run it in-process.
 */
export const tokenService = defineService({
  name: "token-service",
  configSchema: tokenServiceConfigSchema,
  setup: (ctx) => {
    const refresh = startRefresh(ctx);
    return {
      refresh,
      consumers: tokenServiceConsumers(refresh, { pool: ctx.pool, metrics: ctx.bus.metrics }),
      routes: (app) =>
        registerConnectionRoutes(app, {
          prisma: ctx.prisma,
          cipher: cipherFromConfig(ctx.config),
          apiToken: ctx.config.TOKEN_SERVICE_API_TOKEN,
          providers: providerIds,
          source: ctx.name,
        }),
      stop: refresh.stop,
    };
  },
});
