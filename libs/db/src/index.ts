export { ColumnsText, joinFlat, quoted } from "./array-literals.ts";
export { type CliArgs, type CliCommand, runCli, UsageError } from "./cli/run-cli.ts";
export { lockCommunicationLinks, withCommunicationLinksShared } from "./communication-links-lock.ts";
export {
  databaseName,
  ensureDatabase,
  parseDatabaseUrl,
  redactDatabaseUrl,
  withDatabaseName,
} from "./database-url.ts";
export type {
  CommunicationEvent,
  Connection,
  Contact,
  JobRun,
  OutboxEvent,
  PrismaClient,
  ProcessedEvent,
  RateLimitBucket,
  RawRecord,
  SyncState,
  User,
} from "./generated/prisma/client.ts";
// The namespace is a value: error classes (`Prisma.PrismaClientKnownRequestError`), `Prisma.sql`,
// input types (`Prisma.ConnectionUpdateInput`).
export { Prisma } from "./generated/prisma/client.ts";
export * from "./job-runs.repository.ts";
export {
  defaultMigrationsDir,
  type MigrateLogger,
  type MigrateOptions,
  type MigrateResult,
  MigrationError,
  type MigrationFile,
  migrate,
  readMigrations,
} from "./migrate.ts";
export {
  checkDatabase,
  createPool,
  databaseNow,
  type PoolOptions,
  type Queryable,
  type TransactionOptions,
  withTransaction,
} from "./pool.ts";
export { createPrismaClient, type PrismaDb } from "./prisma.ts";
export { isDatabaseUnavailable } from "./unavailable.ts";
export { uniqueViolation } from "./unique-violation.ts";
