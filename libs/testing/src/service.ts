import type { StreamOverrides } from "@syncwell/bus";
import type { TestDatabase } from "./database.ts";
import type { TestNats } from "./nats.ts";
import { freePort } from "./ports.ts";

/** What a service run in the test's process gets from testServiceOptions: spread into runService. */
export interface TestServiceOptions {
  handleSignals: false;
  streamOverrides: StreamOverrides;
  env: Record<string, string>;
}

/**
 * The runService options of a service started inside the test process: the test's database and
 * NATS prefix, its HTTP server on a free port of 127.0.0.1, silent logs and no signal handlers
 * (vitest owns the process). `env` adds the service's own variables.
 */
export async function testServiceOptions(
  db: TestDatabase,
  nats: TestNats,
  env: Record<string, string> = {},
): Promise<TestServiceOptions> {
  return {
    handleSignals: false,
    streamOverrides: nats.streamOverrides,
    env: {
      DATABASE_URL: db.url,
      NATS_URL: nats.url,
      NATS_PREFIX: nats.prefix,
      HTTP_HOST: "127.0.0.1",
      HTTP_PORT: String(await freePort()),
      LOG_LEVEL: "silent",
      ...env,
    },
  };
}
