import {
  cipherFromKeyConfig,
  type KeyConfig,
  keyConfigIssues,
  type TokenCipher,
} from "@syncwell/credentials";
import { ConfigError } from "@syncwell/runtime";
import type { z } from "zod";

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
  return cipherFromKeyConfig(config);
}
