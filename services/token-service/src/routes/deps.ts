import type { TokenCipher } from "@syncwell/credentials";
import type { PrismaClient } from "@syncwell/db";

/** What the connection routes need; `registerConnectionRoutes` receives it from the service wiring. */
export type ConnectionRoutesDeps = {
  /** The routes' reads and writes, and their transactions (the outbox write included). */
  prisma: PrismaClient;
  cipher: TokenCipher;
  /** TOKEN_SERVICE_API_TOKEN. */
  apiToken: string;
  /** Provider ids a connection may name. */
  providers: readonly [string, ...string[]];
  /** `source` of the events the routes enqueue (the service name). */
  source: string;
};
