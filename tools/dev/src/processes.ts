/**
 * What scripts/start.sh runs on a laptop (through run-all.ts): the provider simulator and the five
 * services, each on its own port, all against the local Postgres and NATS. Pure data and pure
 * functions, so the table and the environment each process gets can be tested without spawning.
 */
import { styleText } from "node:util";
import { providerIds } from "@syncwell/contracts";

export type ProcessSpec = {
  readonly name: string;
  /** Entry file, relative to the repository root. */
  readonly entry: string;
  readonly port: number;
  /** The variable the process reads its port from (the simulator is not a service: PORT). */
  readonly portVariable: "HTTP_PORT" | "PORT";
  /** Preload `@syncwell/telemetry/register` (services only: the simulator plays an outside party). */
  readonly telemetry: boolean;
  /** Colour of the name in front of each output line. */
  readonly color: LabelColor;
  /** Node flags the image's entrypoint (scripts/docker-entrypoint.sh) also gives this process. */
  readonly nodeFlags?: readonly string[];
};

export type LabelColor = "cyan" | "magenta" | "yellow" | "green" | "blue" | "red" | "gray";

function service(
  name: string,
  port: number,
  color: LabelColor,
  nodeFlags: readonly string[] = [],
): ProcessSpec {
  const entry = `services/${name}/src/main.ts`;
  return { name, entry, port, portVariable: "HTTP_PORT", telemetry: true, color, nodeFlags };
}

export const PROCESSES: readonly ProcessSpec[] = [
  {
    name: "provider-simulator",
    entry: "tools/provider-simulator/src/main.ts",
    port: 4010,
    portVariable: "PORT",
    telemetry: false,
    color: "gray",
  },
  service("scheduler", 3001, "cyan"),
  service("token-service", 3002, "magenta"),
  service("poller", 3003, "yellow", ["--max-semi-space-size=64"]),
  service("health-scorer", 3004, "green", ["--max-old-space-size=96", "--max-semi-space-size=16"]),
  service("notifier", 3005, "blue", [
    "--max-old-space-size=96",
    "--max-semi-space-size=8",
    "--v8-pool-size=2",
  ]),
];

/** The Node flags the image gives a service (`nodeFlags` of its PROCESSES entry; none for others). */
export function serviceNodeFlags(name: string): readonly string[] {
  return PROCESSES.find((p) => p.name === name)?.nodeFlags ?? [];
}

export const LOCAL_DEFAULTS = {
  DATABASE_URL: "postgresql://postgres@127.0.0.1:5432/syncwell",
  NATS_URL: "nats://127.0.0.1:4222",
  NATS_PREFIX: "",
  LOG_LEVEL: "info",
  LOG_PRETTY: "true",
} as const;

/**
 * The providers the simulator plays (all of Syncwell's), and the client credentials it accepts by
 * default.
 */
export const SIMULATED_PROVIDERS = providerIds;

/** Platforms whose data APIs the simulator serves (the poller's connectors). */
const SIMULATED_PLATFORMS = ["gmail", "calendar", "youtube", "spotify", "github", "discord"] as const;

const LOCAL_ENCRYPTION_KEY = Buffer.from("syncwell-local-only-not-a-secret").toString("base64");

/**
 * PLACEHOLDER values for what the services require that has no safe default: API bearer tokens,
 * the token encryption key, OAuth clients and the email vendor, all pointing at the local provider
 * simulator. Local runs only: anything set in the environment wins, and nothing here is a secret
 * anywhere.
 */
export function localDevEnv(simulatorUrl: string): Record<string, string> {
  const env: Record<string, string> = {
    SCHEDULER_API_TOKEN: "local-dev-scheduler-token",
    TOKEN_SERVICE_API_TOKEN: "local-dev-token-service-token",
    HEALTH_API_KEYS: "local-dev-health-scorer-api-key-0000",
    // The notifier's in-app API takes HS256 tokens signed with this secret (kid local-dev).
    NOTIFY_JWT_KEYS: "local-dev:local-dev-notifier-jwt-secret-0000000000",
    // The notifier's emails go to the simulator's Resend endpoint (GET /_control/emails lists them).
    EMAIL_FROM: "Syncwell <alerts@syncwell.local>",
    RESEND_API_KEY: "re_local_only_placeholder",
    RESEND_BASE_URL: simulatorUrl,
    TOKEN_ENCRYPTION_KEYS: `local-dev:${LOCAL_ENCRYPTION_KEY}`,
    TOKEN_ENCRYPTION_CURRENT_KEY: "local-dev",
  };
  for (const provider of SIMULATED_PROVIDERS) {
    const prefix = `PROVIDER_${provider.toUpperCase().replaceAll("-", "_")}`;
    env[`${prefix}_CLIENT_ID`] = `sim-${provider}-client`;
    env[`${prefix}_CLIENT_SECRET`] = `sim-${provider}-secret`;
    env[`${prefix}_TOKEN_URL`] = `${simulatorUrl}/${provider}/oauth/token`;
  }
  // The poller's platform APIs, served by the simulator under /<platform>.
  for (const platform of SIMULATED_PLATFORMS) {
    env[`PLATFORM_${platform.toUpperCase()}_API_URL`] = `${simulatorUrl}/${platform}`;
  }
  return env;
}

export type ChildEnvOptions = {
  /** The runner's own environment; anything set there wins over the local defaults. */
  readonly base: NodeJS.ProcessEnv;
  /** Force colours in the child's output (its stdout is a pipe, so it would otherwise turn them off). */
  readonly color: boolean;
};

/**
 * The environment one child starts with. The port and service name are always the table's: a
 * single HTTP_PORT exported in the shell must not make five processes fight over one port.
 */
export function childEnv(spec: ProcessSpec, options: ChildEnvOptions): NodeJS.ProcessEnv {
  const { base } = options;
  const env: NodeJS.ProcessEnv = { ...base };
  const simulator = PROCESSES.find((p) => p.name === "provider-simulator");
  const defaults = { ...LOCAL_DEFAULTS, ...localDevEnv(`http://127.0.0.1:${simulator?.port ?? 4010}`) };
  for (const [key, value] of Object.entries(defaults)) {
    if (env[key] === undefined) env[key] = value;
  }
  env[spec.portVariable] = String(spec.port);
  env.OTEL_SERVICE_NAME = spec.name;
  // No collector configured: keep the SDK off instead of logging export failures every few seconds.
  if (!base.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() && env.OTEL_SDK_DISABLED === undefined) {
    env.OTEL_SDK_DISABLED = "true";
  }
  if (options.color && env.FORCE_COLOR === undefined && env.NO_COLOR === undefined) {
    env.FORCE_COLOR = "1";
  }
  return env;
}

/** Node arguments that start one process (the executable itself is the runner's own Node). */
export function nodeArgs(spec: ProcessSpec, telemetryAvailable: boolean): string[] {
  const flags = spec.nodeFlags ?? [];
  return spec.telemetry && telemetryAvailable
    ? [...flags, "--import", "@syncwell/telemetry/register", spec.entry]
    : [...flags, spec.entry];
}

/** `scheduler          │`, padded so every process's lines line up, coloured when asked. */
export function formatLabel(spec: ProcessSpec, width: number, color: boolean): string {
  const text = `${spec.name.padEnd(width)} │`;
  return color ? styleText(spec.color, text, { validateStream: false }) : text;
}

/** Colours when writing to a terminal, unless NO_COLOR is set; FORCE_COLOR (not "0") forces them. */
export function wantColor(env: NodeJS.ProcessEnv, isTTY: boolean): boolean {
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== "0";
  return isTTY && env.NO_COLOR === undefined;
}

/** How a child ended, for a log line: `code 1`, `signal SIGKILL`. */
export function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal) return `signal ${signal}`;
  return `code ${code ?? "unknown"}`;
}
