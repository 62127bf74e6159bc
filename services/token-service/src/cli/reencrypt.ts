// Re-encrypts every connection's tokens under TOKEN_ENCRYPTION_CURRENT_KEY
// (`npm run reencrypt -w @syncwell/token-service`). Safe while the service runs; run it again at
// will. Step 3 of a key rotation (see the README): afterwards the old key can be removed.
// Exit code 0 when every row is under the current key, 1 otherwise.
import { createPool, redactDatabaseUrl, runCli, UsageError } from "@syncwell/db";
import { commonEnv, envInt, formatConfigError, loadConfig } from "@syncwell/runtime";
import { z } from "zod";
import { cipherFromConfig, configSchema, withKeyConfigCheck } from "../config.ts";
import { reencryptConnections } from "../engine/reencrypt.ts";

const usage = `Usage: node services/token-service/src/cli/reencrypt.ts [--batch-size <n>]

Re-encrypts the tokens of every connection not yet under TOKEN_ENCRYPTION_CURRENT_KEY.
Reads DATABASE_URL, TOKEN_ENCRYPTION_KEYS and TOKEN_ENCRYPTION_CURRENT_KEY from the environment.

  --batch-size <n>  rows per transaction (default 500)
  -h, --help        show this help`;

const envSchema = withKeyConfigCheck(
  z.object({
    DATABASE_URL: commonEnv.DATABASE_URL,
    TOKEN_ENCRYPTION_KEYS: configSchema.shape.TOKEN_ENCRYPTION_KEYS,
    TOKEN_ENCRYPTION_CURRENT_KEY: configSchema.shape.TOKEN_ENCRYPTION_CURRENT_KEY,
  }),
);

runCli({
  usage,
  options: { "batch-size": { type: "string" } },
  failure: "re-encryption failed",
  async run(args) {
    const batchSize = envInt({ min: 1, max: 10_000 }).safeParse(args["batch-size"] ?? "500");
    if (!batchSize.success) throw new UsageError("--batch-size must be an integer from 1 to 10000");

    let env: z.output<typeof envSchema>;
    try {
      env = loadConfig(envSchema);
    } catch (err) {
      process.stderr.write(formatConfigError(err));
      return 1;
    }
    const cipher = cipherFromConfig(env);
    const pool = createPool(env.DATABASE_URL, { max: 2, applicationName: "token-service-reencrypt" });
    try {
      console.log(
        `re-encrypting connections in ${redactDatabaseUrl(env.DATABASE_URL)} under key "${cipher.currentKeyId}"`,
      );
      const summary = await reencryptConnections(pool, cipher, {
        batchSize: batchSize.data,
        onProgress: ({ done, total, failed }) =>
          console.log(`${done} / ${total} re-encrypted${failed > 0 ? `, ${failed} failed` : ""}`),
      });
      for (const { id, reason } of summary.failed) console.error(`connection ${id}: ${reason}`);
      console.log(
        summary.total === 0
          ? `nothing to do: every connection is under key "${summary.currentKeyId}"`
          : `done: ${summary.reencrypted} of ${summary.total} connection(s) re-encrypted under key "${summary.currentKeyId}", ` +
              `${summary.failed.length} failed, ${summary.remaining} still under another key`,
      );
      if (summary.remaining > 0) {
        console.error(
          `${summary.remaining} connection(s) were locked by running refreshes throughout; run the command again`,
        );
      }
      return summary.failed.length === 0 && summary.remaining === 0 ? 0 : 1;
    } finally {
      await pool.end();
    }
  },
});
