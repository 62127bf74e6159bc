import { defineService } from "@syncwell/service";
import { healthScorerConfigSchema } from "./config.ts";
import { healthScorerConsumers } from "./consumers/index.ts";
import { startScoring } from "./engine/start-scoring.ts";

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
    };
  },
});
