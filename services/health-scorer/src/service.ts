import { defineService } from "@syncwell/service";
import { healthScorerConfigSchema } from "./config.ts";

/** The health-scorer: recomputes connection, relationship and deal health. Its consumers and routes come with its issue; today it runs the shared runtime only. */
export const healthScorerService = defineService({
  name: "health-scorer",
  configSchema: healthScorerConfigSchema,
});
