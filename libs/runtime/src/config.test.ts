import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { nodeBinary } from "@syncwell/testing";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { ConfigError, exitOnConfigError, formatConfigError, loadConfig } from "./config.ts";
import { commonEnv, envBool, envDurationMs, envInt, envUrl, parseDurationMs } from "./env.ts";

const schema = z.object({
  ...commonEnv,
  TOKEN_ENCRYPTION_KEY: z.string().min(32).describe("base64 key of 32 bytes"),
  PROVIDER_BASE_URL: envUrl({ protocols: ["http:", "https:"] }).optional(),
  REFRESH_BATCH_SIZE: envInt({ min: 1, max: 1000 }).default(100),
});

const valid = {
  DATABASE_URL: "postgresql://postgres@127.0.0.1:5432/syncwell",
  TOKEN_ENCRYPTION_KEY: "k".repeat(44),
};

function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(schema, env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("loadConfig", () => {
  it("applies the defaults", () => {
    const config = loadConfig(schema, valid);
    expect(config).toEqual({
      NODE_ENV: "development",
      LOG_LEVEL: "info",
      LOG_PRETTY: false,
      HTTP_HOST: "0.0.0.0",
      HTTP_PORT: 8080,
      HTTP_REQUEST_TIMEOUT: 30_000,
      HTTP_HEADERS_TIMEOUT: 10_000,
      HTTP_KEEP_ALIVE_TIMEOUT: 72_000,
      DATABASE_URL: "postgresql://postgres@127.0.0.1:5432/syncwell",
      DATABASE_STATEMENT_TIMEOUT: 60_000,
      DATABASE_CONNECT_TIMEOUT: 5_000,
      NATS_URL: ["nats://127.0.0.1:4222"],
      NATS_PREFIX: "",
      SHUTDOWN_TIMEOUT_MS: 15_000,
      TOKEN_ENCRYPTION_KEY: "k".repeat(44),
      REFRESH_BATCH_SIZE: 100,
    });
  });

  it("parses typed values and treats empty variables as unset", () => {
    const config = loadConfig(schema, {
      ...valid,
      NODE_ENV: "production",
      LOG_PRETTY: "yes",
      HTTP_PORT: "3001",
      NATS_URL: "nats://a:4222, nats://b:4222",
      NATS_PREFIX: "ci_42-x",
      SHUTDOWN_TIMEOUT_MS: "30s",
      REFRESH_BATCH_SIZE: "",
      PROVIDER_BASE_URL: "http://127.0.0.1:4010",
    });
    expect(config).toMatchObject({
      NODE_ENV: "production",
      LOG_PRETTY: true,
      HTTP_PORT: 3001,
      NATS_URL: ["nats://a:4222", "nats://b:4222"],
      NATS_PREFIX: "ci_42-x",
      SHUTDOWN_TIMEOUT_MS: 30_000,
      REFRESH_BATCH_SIZE: 100,
      PROVIDER_BASE_URL: "http://127.0.0.1:4010",
    });
  });

  it("names every invalid variable, one per line, with the expected form", () => {
    const err = configError({
      HTTP_PORT: "abc",
      LOG_PRETTY: "maybe",
      NODE_ENV: "prod",
      NATS_PREFIX: "a.b",
      SHUTDOWN_TIMEOUT_MS: "ten minutes",
      REFRESH_BATCH_SIZE: "5000",
      PROVIDER_BASE_URL: "ftp://files.example.com",
      TOKEN_ENCRYPTION_KEY: "short",
    });
    expect(err.message.split("\n")).toEqual([
      `NODE_ENV: "prod" is not valid (development|test|production)`,
      `LOG_PRETTY: "maybe" is not a boolean (true or false)`,
      `HTTP_PORT: "abc" is not a valid port (integer 1-65535)`,
      "DATABASE_URL: required (Postgres URL, e.g. postgresql://user@host:5432/db)",
      `NATS_PREFIX: "a.b" is not a valid prefix (letters, digits, _ and -; empty for none)`,
      `SHUTDOWN_TIMEOUT_MS: "ten minutes" is not a valid duration (duration: 500ms, 10s, 5m, 1h, or plain milliseconds)`,
      "TOKEN_ENCRYPTION_KEY: the value (hidden) is not valid (base64 key of 32 bytes)",
      `PROVIDER_BASE_URL: "ftp://files.example.com" has scheme ftp, not http or https (http or https URL)`,
      `REFRESH_BATCH_SIZE: "5000" is out of range (integer 1-1000)`,
    ]);
    expect(err.issues.map((issue) => issue.variable)).toContain("HTTP_PORT");
  });

  it("never prints a secret", () => {
    const err = configError({
      DATABASE_URL: "mysql://app:hunter2@db:3306/x",
      TOKEN_ENCRYPTION_KEY: "super-secret-but-short",
      NATS_PREFIX: "x",
    });
    const text = formatConfigError(err);
    expect(text).not.toContain("hunter2");
    expect(text).not.toContain("super-secret-but-short");
    expect(text).toContain(
      `DATABASE_URL: "mysql://app:***@db:3306/x" has scheme mysql, not postgres or postgresql`,
    );

    const unparsable = configError({ ...valid, DATABASE_URL: "postgres://app:s3cr3t@db:port/x" });
    expect(unparsable.message).toBe(
      `DATABASE_URL: "postgres://app:***@db:port/x" is not a valid URL (Postgres URL, e.g. postgresql://user@host:5432/db)`,
    );
  });

  it("reports a missing required variable as required", () => {
    const err = configError({ TOKEN_ENCRYPTION_KEY: "k".repeat(44) });
    expect(err.message).toBe("DATABASE_URL: required (Postgres URL, e.g. postgresql://user@host:5432/db)");
    expect(formatConfigError(err)).toBe(
      "Invalid configuration (1 problem):\n  DATABASE_URL: required (Postgres URL, e.g. postgresql://user@host:5432/db)\n",
    );
  });

  it("rethrows errors that are not about configuration", () => {
    const other = new Error("disk on fire");
    expect(() => exitOnConfigError(other)).toThrow(other);
  });

  it("exitOnConfigError prints the problems to stderr and exits 1", () => {
    const result = spawnSync(nodeBinary, [resolve(import.meta.dirname, "fixtures/config-exit.ts")], {
      env: { PATH: process.env.PATH ?? "", HTTP_PORT: "99999" },
      encoding: "utf8",
    });
    expect(result.status).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe(
      "Invalid configuration (2 problems):\n" +
        `  HTTP_PORT: "99999" is not a valid port (integer 1-65535)\n` +
        "  DATABASE_URL: required (Postgres URL, e.g. postgresql://user@host:5432/db)\n",
    );
  });
});

describe("env field builders", () => {
  it("parses durations", () => {
    expect(parseDurationMs("500ms")).toBe(500);
    expect(parseDurationMs("10s")).toBe(10_000);
    expect(parseDurationMs("5m")).toBe(300_000);
    expect(parseDurationMs("1h")).toBe(3_600_000);
    expect(parseDurationMs("1.5s")).toBe(1500);
    expect(parseDurationMs(" 2500 ")).toBe(2500);
    expect(parseDurationMs("5 M")).toBe(300_000);
    expect(parseDurationMs("5d")).toBeUndefined();
    expect(parseDurationMs("-1s")).toBeUndefined();
    expect(envDurationMs().parse("10s")).toBe(10_000);
  });

  it("parses booleans", () => {
    for (const yes of ["true", "TRUE", "1", "yes", "on"]) expect(envBool().parse(yes)).toBe(true);
    for (const no of ["false", "0", "no", "OFF"]) expect(envBool().parse(no)).toBe(false);
    expect(envBool().safeParse("2").success).toBe(false);
  });
});
