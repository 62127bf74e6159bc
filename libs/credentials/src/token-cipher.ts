import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

/**
 * Tokens at rest: AES-256-GCM with a random 96-bit nonce per encryption, and the key id stored in
 * each ciphertext (`v1.<keyId>.<base64url(nonce | ciphertext | tag)>`) so keys can rotate: new
 * writes use the current key, every configured key still decrypts, and re-encryption moves old
 * rows to the current key. The key id is also bound as additional authenticated data, so a
 * ciphertext cannot be relabelled to another key.
 */
export type TokenCipher = {
  readonly currentKeyId: string;
  encrypt(plaintext: string): string;
  decrypt(ciphertext: string): string;
  keyIdOf(ciphertext: string): string;
};

export class TokenCipherError extends Error {
  override readonly name = "TokenCipherError";
}

const VERSION = "v1";
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

/**
 * Parses `TOKEN_ENCRYPTION_KEYS`: comma-separated `<keyId>:<base64 of 32 bytes>`. Errors name the
 * key id, never the key material.
 */
export function parseKeyList(value: string): Map<string, Buffer> {
  const keys = new Map<string, Buffer>();
  for (const entry of value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const sep = entry.indexOf(":");
    const id = sep > 0 ? entry.slice(0, sep) : "";
    if (!KEY_ID_PATTERN.test(id)) {
      throw new TokenCipherError(
        `key entry ${keys.size + 1}: expected <keyId>:<base64 key>, key id of letters, digits, _ or -`,
      );
    }
    const key = Buffer.from(entry.slice(sep + 1), "base64");
    if (key.length !== 32)
      throw new TokenCipherError(`key "${id}": must be 32 bytes base64-encoded, got ${key.length} bytes`);
    if (keys.has(id)) throw new TokenCipherError(`key "${id}" is listed twice`);
    keys.set(id, key);
  }
  if (keys.size === 0) throw new TokenCipherError("no keys configured");
  return keys;
}

export function createTokenCipher(keys: Map<string, Buffer>, currentKeyId: string): TokenCipher {
  const current = keys.get(currentKeyId);
  if (!current) {
    throw new TokenCipherError(
      `current key "${currentKeyId}" is not among the configured keys (${[...keys.keys()].join(", ")})`,
    );
  }

  function split(ciphertext: string): { keyId: string; blob: Buffer } {
    const parts = ciphertext.split(".");
    if (parts.length !== 3 || parts[0] !== VERSION || !parts[1] || !parts[2]) {
      throw new TokenCipherError("not a token ciphertext (expected v1.<keyId>.<data>)");
    }
    return { keyId: parts[1], blob: Buffer.from(parts[2], "base64url") };
  }

  return {
    currentKeyId,
    encrypt(plaintext) {
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv("aes-256-gcm", current, nonce);
      cipher.setAAD(Buffer.from(currentKeyId));
      const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
      const blob = Buffer.concat([nonce, body, cipher.getAuthTag()]);
      return `${VERSION}.${currentKeyId}.${blob.toString("base64url")}`;
    },
    decrypt(ciphertext) {
      const { keyId, blob } = split(ciphertext);
      const key = keys.get(keyId);
      if (!key) throw new TokenCipherError(`ciphertext uses key "${keyId}", which is not configured`);
      if (blob.length < NONCE_BYTES + TAG_BYTES) throw new TokenCipherError("ciphertext is truncated");
      const decipher = createDecipheriv("aes-256-gcm", key, blob.subarray(0, NONCE_BYTES));
      decipher.setAAD(Buffer.from(keyId));
      decipher.setAuthTag(blob.subarray(blob.length - TAG_BYTES));
      try {
        return Buffer.concat([
          decipher.update(blob.subarray(NONCE_BYTES, blob.length - TAG_BYTES)),
          decipher.final(),
        ]).toString("utf8");
      } catch {
        throw new TokenCipherError(
          `ciphertext under key "${keyId}" failed authentication (tampered or wrong key)`,
        );
      }
    },
    keyIdOf(ciphertext) {
      return split(ciphertext).keyId;
    },
  };
}
