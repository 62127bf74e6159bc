import { defineService } from "@syncwell/service";
import { healthScorerConfigSchema } from "./config.ts";
import { healthScorerConsumers } from "./consumers/index.ts";
import { startScoring } from "./engine/start-scoring.ts";
import { type ChangedSubject, registerHealthRoutes } from "./routes/index.ts";

/** The health-scorer: recomputes connection, relationship and deal health when their inputs change, and sweeps stale scores. */
export const healthScorerService = defineService({
  name: "health-scorer",
  configSchema: healthScorerConfigSchema,
  setup: (ctx) => {
    const scoring = startScoring(ctx);
    return {
      scoring,
      consumers: healthScorerConsumers(scoring, { pool: ctx.pool, metrics: ctx.bus.metrics }),
      stop: scoring.stop,
      // The API (contacts, deals, scores, activity) is served only with keys to guard it.
      routes: (app) => {
        const apiKeys = ctx.config.HEALTH_API_KEYS;
        const rescore = (subjects: readonly ChangedSubject[]) => scoring.scoring.scoreWithDeals(subjects);
        if (apiKeys === undefined) ctx.logger.warn("HEALTH_API_KEYS is unset: the API is not served");
        else return registerHealthRoutes(app, { prisma: ctx.prisma, apiKeys, rescore });
      },
    };
  },
});
