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
  /** Fewest items each generated data resource starts with (per connection, seeded). */
  SIM_DATA_ITEMS_MIN: z.coerce.number().int().nonnegative().default(25),
  /** Most items each generated data resource starts with. */
  SIM_DATA_ITEMS_MAX: z.coerce.number().int().nonnegative().default(60),
  /** Connections whose generated data stays in memory (LRU; about 25 KB each with every resource used). */
  SIM_DATA_CACHE_SIZE: z.coerce.number().int().positive().default(20_000),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
});

export type SimulatorConfig = z.output<typeof envSchema>;

const checkedSchema = envSchema.refine((env) => env.SIM_DATA_ITEMS_MAX >= env.SIM_DATA_ITEMS_MIN, {
  message: "must not be below SIM_DATA_ITEMS_MIN",
  path: ["SIM_DATA_ITEMS_MAX"],
});

/** Reads the environment; the error names each bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): SimulatorConfig {
  const parsed = checkedSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`invalid provider-simulator configuration: ${problems}`);
  }
  return parsed.data;
}
