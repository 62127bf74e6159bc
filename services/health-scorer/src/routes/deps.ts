import type { PrismaClient } from "@syncwell/db";

/** What the API's routes need; `registerHealthRoutes` receives it from the service wiring. */
export type HealthRoutesDeps = {
  /** The routes' reads and writes, and their transactions. */
  prisma: PrismaClient;
  /** HEALTH_API_KEYS: every key is valid (rotation). */
  apiKeys: readonly string[];
};
