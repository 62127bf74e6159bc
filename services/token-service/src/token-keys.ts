import { createTokenCipher, parseKeyList, type TokenCipher, TokenCipherError } from "@syncwell/credentials";
import { ConfigError, type ConfigIssue } from "@syncwell/runtime";
import type { z } from "zod";

/** The two variables the cipher is built from (the service config and the re-encrypt command share them). */
export type KeyConfig = {
  TOKEN_ENCRYPTION_KEYS: string;
  TOKEN_ENCRYPTION_CURRENT_KEY: string;
};

/**
 * What is wrong with the key configuration, one issue per variable. Messages name key ids and byte
 * counts, never key material, and are phrased as the end of a sentence ("is …") so the runtime's
 * config error prints them after "the value (hidden)".
 */
export function keyConfigIssues(config: Partial<KeyConfig>): ConfigIssue[] {
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

/**
 * The schema plus the key checks, so a bad key configuration stops the service at config time,
 * with the runtime's usual error naming the variable, before anything connects.
 */
export function withKeyConfigCheck<S extends z.ZodObject>(schema: S): S {
  return schema.superRefine((value, ctx) => {
    for (const issue of keyConfigIssues(value as Partial<KeyConfig>)) {
      ctx.addIssue({ code: "custom", path: [issue.variable], message: issue.message });
    }
  });
}

/** Builds the keyring from the configuration; throws a ConfigError naming the variable when it is bad. */
export function cipherFromConfig(config: KeyConfig): TokenCipher {
  const issues = keyConfigIssues(config);
  if (issues.length > 0) throw new ConfigError(issues);
  return createTokenCipher(parseKeyList(config.TOKEN_ENCRYPTION_KEYS), config.TOKEN_ENCRYPTION_CURRENT_KEY);
}
