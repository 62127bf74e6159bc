/**
 * Test support: a poller engine in a process of its own, for the test that kills one with SIGKILL
 * in the middle of a poll. Polls one FakePlatform (env below) once and exits.
 *   DATABASE_URL, FAKE_PLATFORM, FAKE_PLATFORM_URL, FAKE_SCOPE, FAKE_PAGE_SIZE, LEASE_MS
 * Uses the test key of TOKEN_KEY_B64 (id k1).
 */
import { createTokenCipher, parseKeyList } from "@syncwell/credentials";
import { createPool } from "@syncwell/db";
import { fakeConnector } from "./fake-platform.ts";
import { testEngine } from "./fixtures.ts";

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};

const pool = createPool(env("DATABASE_URL"), { max: 4 });
const connector = fakeConnector({
  platform: env("FAKE_PLATFORM"),
  provider: "github",
  baseUrl: env("FAKE_PLATFORM_URL"),
  requiredScopes: [env("FAKE_SCOPE")],
  pageSize: Number(env("FAKE_PAGE_SIZE")),
});
const engine = testEngine(pool, [{ connector }], {
  settings: { leaseMs: Number(env("LEASE_MS")), requestTimeoutMs: 60_000 },
  replicaId: "doomed-replica",
  cipher: createTokenCipher(parseKeyList(`k1:${env("TOKEN_KEY_B64")}`), "k1"),
});
process.stdout.write("started\n");
const summary = await engine.run();
process.stdout.write(`${JSON.stringify(summary)}\n`);
await pool.end();
