import { createTokenCipher, parseKeyList, type TokenCipher, TokenCipherError } from "./token-cipher.ts";

/** The two variables a keyring is built from (token service, poller, re-encrypt command). */
export type KeyConfig = {
  TOKEN_ENCRYPTION_KEYS: string;
  TOKEN_ENCRYPTION_CURRENT_KEY: string;
};

export type KeyConfigIssue = { variable: keyof KeyConfig; message: string };

/**
 * What is wrong with the key configuration, one issue per variable. Messages name key ids and byte
 * counts, never key material, and are phrased as the end of a sentence ("is …") so a config error
 * can print them after the variable's (hidden) value.
 */
export function keyConfigIssues(config: Partial<KeyConfig>): KeyConfigIssue[] {
  const list = config.TOKEN_ENCRYPTION_KEYS;
  const current = config.TOKEN_ENCRYPTION_CURRENT_KEY;
  if (typeof list !== "string" || typeof current !== "string") return []; // reported as missing already
  let keys: Map<string, Buffer>;
  try {
    keys = parseKeyList(list);
  } catch (err) {
    if (!(err instanceof TokenCipherError)) throw err;
    return [{ variable: "TOKEN_ENCRYPTION_KEYS", message: `is not a valid key list: ${err.message}` }];
  }
  if (!keys.has(current)) {
    return [
      {
        variable: "TOKEN_ENCRYPTION_CURRENT_KEY",
        message: `is not one of the key ids in TOKEN_ENCRYPTION_KEYS (${[...keys.keys()].join(", ")})`,
      },
    ];
  }
  return [];
}

/** The keyring the two variables describe; throws a TokenCipherError when they are invalid (see keyConfigIssues). */
export function cipherFromKeyConfig(config: KeyConfig): TokenCipher {
  return createTokenCipher(parseKeyList(config.TOKEN_ENCRYPTION_KEYS), config.TOKEN_ENCRYPTION_CURRENT_KEY);
}
