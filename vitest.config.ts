import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["libs/**/*.test.ts", "services/**/*.test.ts", "tools/**/*.test.ts"],
    exclude: ["**/node_modules/**", "**/generated/**"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: files run in parallel, but the shared Postgres and NATS should not be swamped.
    maxWorkers: 2,
  },
});
