// Prisma CLI configuration, for environments that have Prisma's schema engine (`prisma migrate
// status|deploy|dev`, `prisma studio`). Migrations are normally applied by `npm run db:migrate`,
// which needs no engine and keeps the same `_prisma_migrations` history.
import { defineConfig } from "prisma/config";

export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  // Not env("DATABASE_URL"): that throws when the variable is unset, and `prisma generate` (run at
  // install time) needs no database.
  datasource: { url: process.env.DATABASE_URL ?? "" },
});
