import { commonEnv, envPort } from "@syncwell/runtime";
import { z } from "zod";

/** Environment of the poller. Shared variables come from commonEnv; its own are below. */
export const configSchema = z.object({
  ...commonEnv,
  HTTP_PORT: envPort().default(3003),
});

export type Config = z.output<typeof configSchema>;
