// The in-app API's variables: key lists parsed into keys bound to one algorithm each, problems
// named by position and never quoting a secret, and no API without keys.
import { ConfigError, loadConfig } from "@syncwell/runtime";
import { describe, expect, it } from "vitest";
import { accessTokenSettings, notifierConfigSchema } from "./config.ts";

const base = { DATABASE_URL: "postgresql://postgres@127.0.0.1:5432/syncwell" };
const SECRET = "s".repeat(32);
const EC_PUBLIC = {
  kty: "EC",
  crv: "P-256",
  x: "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
  y: "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
  kid: "es-1",
  alg: "ES256",
};

function load(env: Record<string, string> = {}) {
  return loadConfig(notifierConfigSchema, { ...base, ...env });
}

function problems(env: Record<string, string>): string {
  try {
    load(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("in-app API config", () => {
  it("serves no API without keys, and has the documented defaults", () => {
    const config = load();
    expect(accessTokenSettings(config)).toBeNull();
    expect(config.NOTIFY_JWT_AUDIENCE).toBe("syncwell-notifier");
    expect(config.NOTIFY_STREAMS_PER_USER).toBe(5);
  });

  it("reads shared secrets and public keys, each bound to its algorithm", () => {
    const settings = accessTokenSettings(
      load({
        NOTIFY_JWT_KEYS: `old:${SECRET}, new:${"n".repeat(40)}`,
        NOTIFY_JWT_PUBLIC_KEYS: JSON.stringify({ keys: [EC_PUBLIC] }),
        NOTIFY_JWT_AUDIENCE: "app",
        NOTIFY_JWT_ISSUER: "https://auth.syncwell.test",
      }),
    );
    expect(settings?.keys.map((k) => `${k.kid}/${k.alg}`)).toEqual(["old/HS256", "new/HS256", "es-1/ES256"]);
    expect(settings).toMatchObject({ audience: "app", issuer: "https://auth.syncwell.test" });
  });

  it("names the bad entry and never quotes a secret", () => {
    const message = problems({ NOTIFY_JWT_KEYS: `a:${SECRET},b:short-secret-value,c${SECRET},a:${SECRET}` });
    expect(message).toContain("has entry 2 of 4 with a secret shorter than 32 bytes");
    expect(message).toContain("entry 3 of 4 that is not kid:secret");
    expect(message).toContain("kid a more than once");
    expect(message).not.toContain("short-secret-value");
    expect(message).not.toContain(SECRET);
  });

  it("refuses private keys, keys without kid or alg, and keys of another type than their alg", () => {
    const set = (...keys: object[]) => ({ NOTIFY_JWT_PUBLIC_KEYS: JSON.stringify({ keys }) });
    expect(problems(set({ ...EC_PUBLIC, d: "private-part" }))).toContain("is not a public key");
    expect(problems(set({ ...EC_PUBLIC, kid: undefined }))).toContain("without a kid");
    expect(problems(set({ ...EC_PUBLIC, alg: "HS256" }))).toContain("without an alg among");
    expect(problems(set({ ...EC_PUBLIC, alg: "RS256" }))).toContain("is not a RS256 key");
    expect(problems(set({ kty: "oct", k: "c2VjcmV0", kid: "x", alg: "HS256" }))).toContain("without an alg");
    expect(problems({ NOTIFY_JWT_PUBLIC_KEYS: "{not json" })).toContain("is not JSON");
    expect(problems({ NOTIFY_JWT_PUBLIC_KEYS: '{"keys": []}' })).toContain("is not a JSON Web Key Set");
    expect(problems(set({ ...EC_PUBLIC, d: "private-part" }))).not.toContain("private-part");
  });
});
