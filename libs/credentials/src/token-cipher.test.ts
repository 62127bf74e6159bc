import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createTokenCipher, parseKeyList, TokenCipherError } from "./token-cipher.ts";

const k1 = randomBytes(32).toString("base64");
const k2 = randomBytes(32).toString("base64");

describe("token cipher", () => {
  it("round-trips and never leaves the plaintext in the ciphertext", () => {
    const cipher = createTokenCipher(parseKeyList(`k1:${k1}`), "k1");
    const secret = "ya29.a0AfH6SMBx-secret-access-token";
    const sealed = cipher.encrypt(secret);
    expect(sealed).toMatch(/^v1\.k1\./);
    expect(sealed).not.toContain(secret);
    expect(cipher.encrypt(secret)).not.toBe(sealed); // random nonce
    expect(cipher.decrypt(sealed)).toBe(secret);
  });

  it("rotates: new writes use the current key, old ciphertexts still decrypt", () => {
    const old = createTokenCipher(parseKeyList(`k1:${k1}`), "k1");
    const rotated = createTokenCipher(parseKeyList(`k1:${k1},k2:${k2}`), "k2");
    const sealedOld = old.encrypt("refresh-1");
    expect(rotated.decrypt(sealedOld)).toBe("refresh-1");
    expect(rotated.keyIdOf(rotated.encrypt("x"))).toBe("k2");
  });

  it("rejects tampering, relabelled keys and unknown keys with clear errors", () => {
    const cipher = createTokenCipher(parseKeyList(`k1:${k1},k2:${k2}`), "k1");
    const sealed = cipher.encrypt("token");
    const [v, , data] = sealed.split(".");
    expect(() => cipher.decrypt(`${v}.k2.${data}`)).toThrow(/failed authentication/);
    const flipped = Buffer.from(data as string, "base64url");
    flipped[20] = (flipped[20] ?? 0) ^ 1;
    expect(() => cipher.decrypt(`${v}.k1.${flipped.toString("base64url")}`)).toThrow(TokenCipherError);
    expect(() => cipher.decrypt(`${v}.k9.${data}`)).toThrow(/key "k9", which is not configured/);
    expect(() => cipher.decrypt("plaintext-token")).toThrow(/not a token ciphertext/);
  });

  it("validates the key list without echoing key material", () => {
    expect(() => parseKeyList("k1:c2hvcnQ=")).toThrow(/key "k1": must be 32 bytes/);
    expect(() => parseKeyList(`bad id:${k1}`)).toThrow(/key entry 1/);
    expect(() => parseKeyList(`k1:${k1},k1:${k2}`)).toThrow(/listed twice/);
    expect(() => createTokenCipher(parseKeyList(`k1:${k1}`), "k2")).toThrow(/current key "k2"/);
    const thrown = (() => {
      try {
        parseKeyList("k1:c2hvcnQ=");
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(thrown).toBeInstanceOf(Error);
    expect(String(thrown)).not.toContain("c2hvcnQ=");
    expect((thrown as Error).stack).not.toContain("c2hvcnQ=");
  });
});
