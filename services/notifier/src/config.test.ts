import { ConfigError, loadConfig } from "@syncwell/runtime";
import { describe, expect, it } from "vitest";
import {
  configWarnings,
  DEFAULT_RECONNECT_URL,
  emailDeliverySettings,
  notifierConfigSchema,
  notifySettings,
} from "./config.ts";

const base = { DATABASE_URL: "postgresql://postgres@127.0.0.1:5432/syncwell" };

function load(env: Record<string, string> = {}) {
  return loadConfig(notifierConfigSchema, { ...base, ...env });
}

function configError(env: Record<string, string>): ConfigError {
  try {
    load(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("notifier config", () => {
  it("has the documented defaults", () => {
    const config = load();
    expect(config.HTTP_PORT).toBe(3005);
    expect(notifySettings(config)).toEqual({
      warningAfter: 2,
      disconnectedAfter: 3,
      rateLimitedAfter: 5,
      cooldownMs: 6 * 3_600_000,
      reconnectUrl: "http://localhost:3000/connections/{connectionId}/reconnect",
      healthEmail: false,
    });
    expect(DEFAULT_RECONNECT_URL).toBe("http://localhost:3000/connections/{connectionId}/reconnect");
  });

  it("reads every setting from the environment", () => {
    const settings = notifySettings(
      load({
        NOTIFY_WARNING_AFTER: "1",
        NOTIFY_DISCONNECTED_AFTER: "4",
        NOTIFY_RATE_LIMITED_AFTER: "8",
        NOTIFY_COOLDOWN: "90m",
        NOTIFY_RECONNECT_URL: " https://app.syncwell.io/connections/{connectionId}/reconnect?p={provider} ",
        NOTIFY_HEALTH_EMAIL: "yes",
      }),
    );
    expect(settings).toEqual({
      warningAfter: 1,
      disconnectedAfter: 4,
      rateLimitedAfter: 8,
      cooldownMs: 90 * 60_000,
      reconnectUrl: "https://app.syncwell.io/connections/{connectionId}/reconnect?p={provider}",
      healthEmail: true,
    });
  });

  it.each([
    ["NOTIFY_WARNING_AFTER", "0", "is out of range"],
    ["NOTIFY_WARNING_AFTER", "two", "is not an integer"],
    ["NOTIFY_DISCONNECTED_AFTER", "101", "is out of range"],
    ["NOTIFY_RATE_LIMITED_AFTER", "5.5", "is not an integer"],
    ["NOTIFY_COOLDOWN", "1 day", "is not a valid duration"],
    ["NOTIFY_COOLDOWN", "500ms", "must be at least 1s"],
    ["NOTIFY_RECONNECT_URL", "connections/{connectionId}", "is not a valid URL"],
    ["NOTIFY_RECONNECT_URL", "ftp://app.test/{connectionId}", "has scheme ftp, not http or https"],
    ["NOTIFY_RECONNECT_URL", "https://app.test/{id}", "has an unknown placeholder {id}"],
    ["NOTIFY_HEALTH_EMAIL", "maybe", "is not a boolean"],
  ])("stops on a bad %s (%s), naming the variable", (variable, value, message) => {
    const err = configError({ [variable]: value });
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]?.variable).toBe(variable);
    expect(err.issues[0]?.message).toContain(message);
    expect(err.message).toContain(`${variable}: ${JSON.stringify(value)}`);
  });

  it("refuses credentials in the reconnect link without printing them", () => {
    const err = configError({ NOTIFY_RECONNECT_URL: "https://u:hunter2@app.test/{connectionId}" });
    expect(err.issues.map((i) => i.variable)).toEqual(["NOTIFY_RECONNECT_URL"]);
    expect(err.message).toContain("has credentials in it");
    expect(err.message).not.toContain("hunter2");
  });

  it.each(["NOTIFY_DISCONNECTED_AFTER", "NOTIFY_RATE_LIMITED_AFTER"])(
    "stops when NOTIFY_WARNING_AFTER is not below %s",
    (rung) => {
      const others = { NOTIFY_DISCONNECTED_AFTER: "9", NOTIFY_RATE_LIMITED_AFTER: "9" };
      expect(() => load({ ...others, NOTIFY_WARNING_AFTER: "3", [rung]: "4" })).not.toThrow();
      for (const value of ["3", "2"]) {
        const err = configError({ ...others, NOTIFY_WARNING_AFTER: "3", [rung]: value });
        expect(err.issues).toEqual([
          {
            variable: "NOTIFY_WARNING_AFTER",
            message: expect.stringContaining(`"3" must be below ${rung} (${value})`),
          },
        ]);
      }
    },
  );

  it("names every bad variable at once, with the expected form", () => {
    const err = configError({ NOTIFY_COOLDOWN: "soon", NOTIFY_RECONNECT_URL: "mailto:x@y.z" });
    expect(err.issues.map((i) => i.variable)).toEqual(["NOTIFY_COOLDOWN", "NOTIFY_RECONNECT_URL"]);
    expect(err.issues[1]?.message).toContain('(link in a "disconnected" notification');
  });

  it("warns in production about a reconnect link users cannot open or that is not https", () => {
    expect(configWarnings(load())).toEqual([]);
    expect(configWarnings(load({ NODE_ENV: "production" }))).toEqual([
      "NOTIFY_RECONNECT_URL points at localhost: users cannot open the reconnect link",
      "NOTIFY_RECONNECT_URL is not https",
    ]);
    const production = {
      NODE_ENV: "production",
      NOTIFY_RECONNECT_URL: "https://app.syncwell.io/c/{connectionId}",
    };
    expect(configWarnings(load(production))).toEqual([]);
  });
});

describe("notifier email config", () => {
  it("has the documented defaults, email off without a sender and a key", () => {
    const config = load();
    expect(config.EMAIL_FROM).toBeUndefined();
    expect(config.RESEND_API_KEY).toBeUndefined();
    expect(config.EMAIL_SEND_TIMEOUT).toBe(15_000);
    expect(emailDeliverySettings(config)).toEqual({
      replyTo: undefined,
      ratePerSec: 2,
      batchSize: 20,
      concurrency: 4,
      leaseMs: 120_000,
      pollIntervalMs: 5_000,
      retry: {
        maxAttempts: 8,
        backoff: { initialDelayMs: 30_000, maxDelayMs: 1_800_000 },
        maxAgeMs: 23 * 3_600_000,
      },
    });
  });

  it("reads the vendor and the worker's settings, fractions of a send per second included", () => {
    const config = load({
      EMAIL_FROM: "Syncwell <alerts@syncwell.io>",
      RESEND_API_KEY: "re_abc_123",
      RESEND_BASE_URL: "http://127.0.0.1:4010",
      EMAIL_RATE_LIMIT_PER_SEC: "0.5",
      EMAIL_CONCURRENCY: "2",
      EMAIL_CLAIM_LEASE: "1m",
      EMAIL_BACKOFF_BASE: "1s",
    });
    expect(config.EMAIL_FROM).toBe("Syncwell <alerts@syncwell.io>");
    expect(emailDeliverySettings(config)).toMatchObject({
      ratePerSec: 0.5,
      concurrency: 2,
      leaseMs: 60_000,
      retry: { backoff: { initialDelayMs: 1_000 } },
    });
  });

  it("names a bad rate, a bad key and a short lease, never echoing the key", () => {
    const err = configError({
      EMAIL_RATE_LIMIT_PER_SEC: "0",
      RESEND_API_KEY: "sk_live_notresend",
      EMAIL_CLAIM_LEASE: "10ms",
    });
    expect(err.issues.map((i) => i.variable).sort()).toEqual([
      "EMAIL_CLAIM_LEASE",
      "EMAIL_RATE_LIMIT_PER_SEC",
      "RESEND_API_KEY",
    ]);
    expect(err.message).not.toContain("sk_live_notresend");
  });
});
