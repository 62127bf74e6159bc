import type { Queryable } from "@syncwell/db";
import type { NotificationChange } from "../domain/live-changes.ts";
import type { LiveStreams } from "../engine/live-streams.ts";
import type { AccessTokenSettings } from "./access-token.ts";

/** What the in-app API's routes need; `registerNotificationRoutes` receives it from the service wiring. */
export type NotificationRoutesDeps = {
  /** The routes' reads and writes (the service's pool). */
  db: Queryable;
  /** How bearer tokens are verified. */
  access: AccessTokenSettings;
  /** The live streams open on this replica. */
  streams: LiveStreams;
  /** Tells every open stream of the user (on every replica) of a committed change; never throws. */
  publishChange: (userId: string, change: NotificationChange) => void;
  /** A comment line on each idle stream this often, so proxies keep it open (default 15 s). */
  heartbeatMs?: number;
};
