import type { TokenCipher } from "@syncwell/credentials";
import type pg from "pg";

/** What the connection routes need; `registerConnectionRoutes` receives it from the service wiring. */
export type ConnectionRoutesDeps = {
  pool: pg.Pool;
  cipher: TokenCipher;
  /** TOKEN_SERVICE_API_TOKEN. */
  apiToken: string;
  /** Provider ids a connection may name. */
  providers: readonly [string, ...string[]];
  /** `source` of the events the routes enqueue (the service name). */
  source: string;
};
