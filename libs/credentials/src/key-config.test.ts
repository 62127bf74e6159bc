import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { cipherFromKeyConfig, keyConfigIssues } from "./key-config.ts";
import { TokenCipherError } from "./token-cipher.ts";

const key = () => randomBytes(32).toString("base64");

describe("key configuration", () => {
  it("builds the keyring the two variables describe", () => {
    const config = {
      TOKEN_ENCRYPTION_KEYS: `old:${key()},new:${key()}`,
      TOKEN_ENCRYPTION_CURRENT_KEY: "new",
    };
    expect(keyConfigIssues(config)).toEqual([]);
    const cipher = cipherFromKeyConfig(config);
    expect(cipher.decrypt(cipher.encrypt("secret"))).toBe("secret");
  });

  it("names the variable that is wrong, and refuses to build from it", () => {
    const config = { TOKEN_ENCRYPTION_KEYS: `a:${key()}`, TOKEN_ENCRYPTION_CURRENT_KEY: "b" };
    expect(keyConfigIssues(config)).toEqual([
      {
        variable: "TOKEN_ENCRYPTION_CURRENT_KEY",
        message: "is not one of the key ids in TOKEN_ENCRYPTION_KEYS (a)",
      },
    ]);
    expect(() => cipherFromKeyConfig(config)).toThrow(TokenCipherError);
  });
});
