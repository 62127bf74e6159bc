// Applies pending migrations to DATABASE_URL (`npm run db:migrate`; the migration Job/one-shot
// container runs the same). Exit code 0 when the database is up to date, 1 otherwise.
import { ensureDatabase, parseDatabaseUrl, redactDatabaseUrl } from "../database-url.ts";
import { type MigrateLogger, migrate } from "../migrate.ts";
import { runCli } from "./run-cli.ts";

const usage = `Usage: node libs/db/src/cli/migrate.ts [--create-database] [--migrations-dir <dir>]

Applies the pending migrations of libs/db/prisma/migrations to the database named by DATABASE_URL.

  --create-database       create the database first when it does not exist (local first run)
  --migrations-dir <dir>  apply the migrations of another folder
  -h, --help              show this help`;

const logger: MigrateLogger = {
  info(obj, msg) {
    console.log(msg ?? JSON.stringify(obj));
  },
};

runCli({
  usage,
  options: {
    "create-database": { type: "boolean", default: false },
    "migrations-dir": { type: "string" },
  },
  failure: "migration failed",
  async run(args) {
    const url = parseDatabaseUrl(process.env.DATABASE_URL, "DATABASE_URL");
    const target = redactDatabaseUrl(url);
    if (args["create-database"]) {
      const created = await ensureDatabase(url.toString());
      console.log(created ? `created database ${target}` : `database ${target} exists`);
    }
    console.log(`migrating ${target}`);
    const result = await migrate({
      databaseUrl: url.toString(),
      logger,
      ...(args["migrations-dir"] !== undefined && { migrationsDir: args["migrations-dir"] }),
    });
    console.log(
      result.applied.length === 0
        ? `database is up to date (${result.alreadyApplied} migration(s) already applied)`
        : `applied ${result.applied.length} migration(s); ${result.alreadyApplied} were already applied`,
    );
    return 0;
  },
});
