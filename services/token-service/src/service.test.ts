import { randomUUID } from "node:crypto";
import { ConfigError, loadConfig } from "@syncwell/runtime";
import { type RunningServiceOf, runService } from "@syncwell/service";
import {
  createTestDatabase,
  createTestNats,
  type TestDatabase,
  type TestNats,
  testServiceOptions,
} from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tokenServiceConfigSchema } from "./config.ts";
import type { ConnectionView } from "./routes/connection-view.ts";
import { tokenService } from "./service.ts";
import { API_TOKEN, keyList, randomKey, secretToken } from "./testing/fixtures.ts";

const k1 = randomKey();

describe("configuration", () => {
  const base = { DATABASE_URL: "postgresql://postgres@127.0.0.1:5432/x", TOKEN_SERVICE_API_TOKEN: API_TOKEN };

  it("names the bad key variable and never prints key material", () => {
    const short = Buffer.alloc(20, 1).toString("base64");
    const cases: Array<[Record<string, string>, string, RegExp]> = [
      [
        { TOKEN_ENCRYPTION_KEYS: `k1:${k1},k2:${short}`, TOKEN_ENCRYPTION_CURRENT_KEY: "k1" },
        "TOKEN_ENCRYPTION_KEYS",
        /key "k2": must be 32 bytes base64-encoded, got 20 bytes/,
      ],
      [
        { TOKEN_ENCRYPTION_KEYS: `k1:${k1}`, TOKEN_ENCRYPTION_CURRENT_KEY: "k2" },
        "TOKEN_ENCRYPTION_CURRENT_KEY",
        /is not one of the key ids in TOKEN_ENCRYPTION_KEYS \(k1\)/,
      ],
      [
        { TOKEN_ENCRYPTION_KEYS: k1, TOKEN_ENCRYPTION_CURRENT_KEY: "k1" },
        "TOKEN_ENCRYPTION_KEYS",
        /expected <keyId>:<base64 key>/,
      ],
    ];
    for (const [keys, variable, reason] of cases) {
      let error: unknown;
      try {
        loadConfig(tokenServiceConfigSchema, { ...base, ...keys });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ConfigError);
      const { issues, message } = error as ConfigError;
      expect(issues.map((i) => i.variable)).toEqual([variable]);
      expect(message).toMatch(reason);
      expect(message).not.toContain(k1);
      expect(message).not.toContain(short);
    }
    expect(() =>
      loadConfig(tokenServiceConfigSchema, {
        ...base,
        TOKEN_ENCRYPTION_KEYS: `k1:${k1}`,
        TOKEN_ENCRYPTION_CURRENT_KEY: "k1",
      }),
    ).not.toThrow();
  });
});

describe("the service", () => {
  let db: TestDatabase;
  let nats: TestNats;
  let service: RunningServiceOf<typeof tokenService>;

  beforeAll(async () => {
    db = await createTestDatabase();
    nats = createTestNats("tokensvc");
    service = await runService(
      tokenService,
      await testServiceOptions(db, nats, {
        TOKEN_SERVICE_API_TOKEN: API_TOKEN,
        TOKEN_ENCRYPTION_KEYS: keyList({ k1 }),
        TOKEN_ENCRYPTION_CURRENT_KEY: "k1",
      }),
    );
  });

  afterAll(async () => {
    await service?.stop("test done");
    await nats?.cleanup();
    await db?.drop();
  });

  it("serves the connections API over HTTP behind the bearer token", async () => {
    const headers = { authorization: `Bearer ${API_TOKEN}`, "content-type": "application/json" };
    const accessToken = secretToken("access");
    const created = await fetch(`${service.url}/connections`, {
      method: "POST",
      headers,
      body: JSON.stringify({
        userId: randomUUID(),
        userEmail: `${randomUUID()}@example.com`,
        provider: "github",
        scopes: ["repo"],
        accessToken,
      }),
    });
    expect(created.status).toBe(201);
    const text = await created.text();
    expect(text).not.toContain(accessToken);
    const view = JSON.parse(text) as ConnectionView;
    expect(view).toMatchObject({ provider: "github", tokenKeyId: "k1", tokenExpiresNever: true });

    const read = await fetch(`${service.url}/connections/${view.id}`, { headers });
    expect(read.status).toBe(200);
    expect((await fetch(`${service.url}/connections/${view.id}`)).status).toBe(401);
    expect((await fetch(`${service.url}/healthz`)).status).toBe(200);
  });
});
