import { defineService } from "@syncwell/service";
import { configSchema } from "./config.ts";

/** The health-scorer: recomputes connection, relationship and deal health. Its consumers and routes come with its issue; today it runs the shared runtime only. */
export const healthScorerService = defineService({
  name: "health-scorer",
  configSchema,
});
