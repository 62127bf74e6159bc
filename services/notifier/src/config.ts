import { commonEnv, envBool, envDurationMs, envInt, envPort } from "@syncwell/runtime";
import { z } from "zod";
import { reconnectUrlProblem } from "./domain/notifications.ts";
import type { NotifySettings } from "./domain/rules.ts";

/** The reconnect link when NOTIFY_RECONNECT_URL is unset: the web app run locally. */
export const DEFAULT_RECONNECT_URL = "http://localhost:3000/connections/{connectionId}/reconnect";

const HOUR_MS = 3_600_000;

/** Failed refreshes in a row: a rung of the ladder. */
function envFailures(meaning: string, defaultValue: number) {
  return envInt({ min: 1, max: 100 })
    .default(defaultValue)
    .describe(`${meaning} (integer 1-100; default ${defaultValue})`);
}

/** A link template checked as the domain fills it in (`reconnectUrlProblem`). */
function envReconnectUrl() {
  return z
    .string()
    .transform((raw, ctx) => {
      const template = raw.trim();
      const problem = reconnectUrlProblem(template);
      if (problem) {
        ctx.issues.push({ code: "custom", message: problem, input: raw });
        return z.NEVER;
      }
      return template;
    })
    .default(DEFAULT_RECONNECT_URL)
    .describe(
      `link in a "disconnected" notification, an http(s) URL whose {connectionId} and {provider} are filled in (default ${DEFAULT_RECONNECT_URL})`,
    );
}

/** Environment of the notifier. Shared variables come from commonEnv; its own are below. */
export const configSchema = z.object({
  ...commonEnv,
  HTTP_PORT: envPort().default(3005),
  /** The token service's `warning` rung: failures of any kind in a row. */
  NOTIFY_WARNING_AFTER: envFailures("failed refreshes in a row, of any kind, that warn the user in-app", 2),
  /** The token service's `needs_reauth` rung; a failure it already gave up on counts at once. */
  NOTIFY_DISCONNECTED_AFTER: envFailures(
    "non-transient failed refreshes in a row that tell the user, in-app and by email, to reconnect",
    3,
  ),
  /** The token service's `rate_limited` rung. */
  NOTIFY_RATE_LIMITED_AFTER: envFailures(
    "transient failed refreshes in a row that tell the user in-app the provider is limiting Syncwell",
    5,
  ),
  /** A flapping subject is told each kind of notification at most once in this time. */
  NOTIFY_COOLDOWN: envDurationMs()
    .refine((ms) => ms >= 1000, "must be at least 1s")
    .default(6 * HOUR_MS)
    .describe(
      "time in which a subject is not told the same kind of notification again; a disconnection is always told (duration: 500ms, 10s, 5m, 1h; default 6h)",
    ),
  NOTIFY_RECONNECT_URL: envReconnectUrl(),
  /** Until per-user channel preferences exist, this decides for everyone. */
  NOTIFY_HEALTH_EMAIL: envBool()
    .default(false)
    .describe(
      "health notifications (critical, ghost, stalled) go by email too: true or false (default false)",
    ),
});

export type Config = z.output<typeof configSchema>;

/** Rungs that must come after the warning, or the warning would never be seen. */
const afterWarning = ["NOTIFY_DISCONNECTED_AFTER", "NOTIFY_RATE_LIMITED_AFTER"] as const;

/** The schema with its cross-field checks: a ladder out of order stops the start naming the variable. */
export const notifierConfigSchema = configSchema.superRefine((value, ctx) => {
  for (const rung of afterWarning) {
    if (value.NOTIFY_WARNING_AFTER >= value[rung]) {
      ctx.addIssue({
        code: "custom",
        path: ["NOTIFY_WARNING_AFTER"],
        message: `must be below ${rung} (${value[rung]})`,
      });
    }
  }
});

export function notifySettings(config: Config): NotifySettings {
  return {
    warningAfter: config.NOTIFY_WARNING_AFTER,
    disconnectedAfter: config.NOTIFY_DISCONNECTED_AFTER,
    rateLimitedAfter: config.NOTIFY_RATE_LIMITED_AFTER,
    cooldownMs: config.NOTIFY_COOLDOWN,
    reconnectUrl: config.NOTIFY_RECONNECT_URL,
    healthEmail: config.NOTIFY_HEALTH_EMAIL,
  };
}

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/i;

/**
 * What is valid but suspect, for the service to log at start: in production, reconnect links that
 * users cannot open (the local default, a loopback host) or that travel unencrypted. A warning, not
 * a refusal, as for the other services' overrides: the local compose file runs in production mode.
 */
export function configWarnings(config: Config): string[] {
  if (config.NODE_ENV !== "production") return [];
  const url = new URL(config.NOTIFY_RECONNECT_URL.replace(/\{[^{}]*\}/g, "x"));
  const warnings: string[] = [];
  if (LOOPBACK.test(url.hostname)) {
    warnings.push(`NOTIFY_RECONNECT_URL points at ${url.hostname}: users cannot open the reconnect link`);
  }
  if (url.protocol !== "https:") warnings.push("NOTIFY_RECONNECT_URL is not https");
  return warnings;
}
