import { z } from "zod";

const envSchema = z.object({
  /** TCP port to listen on. */
  PORT: z.coerce.number().int().min(0).max(65535).default(4010),
  /** Interface to bind; 0.0.0.0 inside containers. */
  HOST: z.string().min(1).default("127.0.0.1"),
  /** Base latency added to every provider request (ms). */
  SIM_LATENCY_MS: z.coerce.number().int().nonnegative().default(0),
  /** Extra uniform random latency 0..N ms per request. */
  SIM_LATENCY_JITTER_MS: z.coerce.number().int().nonnegative().default(0),
  /** Entries kept in the request log (ring buffer). */
  SIM_REQUEST_LOG_SIZE: z.coerce.number().int().positive().default(100_000),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
});

export type SimulatorConfig = z.output<typeof envSchema>;

/** Reads the environment; the error names each bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): SimulatorConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`invalid provider-simulator configuration: ${problems}`);
  }
  return parsed.data;
}
