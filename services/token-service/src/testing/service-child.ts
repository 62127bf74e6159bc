// Token-service replicas under test: their environment, one in the test's process (runService),
// or one as its own process (main.ts, as the image runs it) for tests that stop it, kill it, or cut
// it off from Postgres. Not used in production.
import { type RunningServiceOf, runService } from "@syncwell/service";
import {
  freePort,
  type ServiceProcess,
  serviceProcessEnv,
  spawnService,
  type TestNats,
} from "@syncwell/testing";
import { tokenService } from "../service.ts";
import { API_TOKEN, keyList } from "./fixtures.ts";
import { simulatorProviderEnv } from "./refresh-support.ts";

/**
 * The environment of a replica on the test's database, NATS prefix and simulator, with one
 * encryption key (`k1`) and test-sized streams; `extra` adds or overrides variables.
 */
export function tokenServiceTestEnv(
  deps: { databaseUrl: string; nats: TestNats; simUrl: string; key: string },
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    ...serviceProcessEnv(deps),
    HTTP_HOST: "127.0.0.1",
    TOKEN_SERVICE_API_TOKEN: API_TOKEN,
    TOKEN_ENCRYPTION_KEYS: keyList({ k1: deps.key }),
    TOKEN_ENCRYPTION_CURRENT_KEY: "k1",
    ...simulatorProviderEnv(deps.simUrl, { rateLimitPerSec: 10_000 }),
    ...extra,
  };
}

/** The token service run in the test's process: its context, HTTP server and parts (the refresh engine). */
export type TokenServiceReplica = RunningServiceOf<typeof tokenService>;

/** A replica in the test's process (the real consumers, no signal handlers) on a free port. */
export async function startTestReplica(
  env: Record<string, string>,
  nats: TestNats,
): Promise<TokenServiceReplica> {
  return runService(tokenService, {
    handleSignals: false,
    streamOverrides: nats.streamOverrides,
    env: { ...env, HTTP_PORT: String(await freePort()) },
  });
}

/** A token-service replica as its own process (see spawnService). */
export type ServiceChild = ServiceProcess;

export function spawnTokenService(env: Record<string, string>, port: number): ServiceChild {
  return spawnService("token-service", env, port);
}
