import type { EventType } from "./catalog.ts";
import type { StreamKey } from "./streams.ts";

/**
 * Who each service is on the bus: the NATS user it connects as, and everything it may do there.
 * The NATS server configuration (users and their publish/subscribe permissions) is generated from
 * this table and the event and stream catalogs (`npm run nats:config`), so a service can publish
 * only what it produces and read only what it consumes. Add a consumer or an event to a service:
 * add it here too, regenerate, and the service's tests against the generated configuration show
 * whether anything is missing.
 */

/** A durable consumer a service runs: the same triple as its ConsumerDefinition. */
export type ConsumerGrant = {
  durable: string;
  stream: StreamKey;
  /** Relative filter subject, as in the consumer definition. */
  filterSubject: string;
};

export type ServiceIdentity = {
  /** NATS user name, which is also the service name. */
  user: string;
  /** Event types the service publishes (their subject patterns become its publish permissions). */
  produces: readonly EventType[];
  /** Its durable consumers (each may also dead-letter to `deadletter.<durable>`). */
  consumes: readonly ConsumerGrant[];
  /**
   * Relative core NATS subjects in no stream that the replicas of the service publish and
   * subscribe to among themselves (wake-ups of a shared run).
   */
  coreSubjects: readonly string[];
  /**
   * Streams that are the service's own storage rather than events: it writes, reads with
   * ephemeral ordered consumers and deletes single messages there; nobody else may.
   */
  ownStreams: readonly StreamKey[];
  /**
   * Streams whose durable consumers the service lists (the scheduler abandons the job runs of a
   * schedule no consumer reads); listing shows their configuration, nothing of the messages.
   */
  listsConsumersOf?: readonly StreamKey[];
};

/** Every service's identity on the bus, under the durable names its consumers use. */
export const serviceIdentities = {
  scheduler: {
    user: "scheduler",
    produces: ["tick"],
    consumes: [],
    coreSubjects: [],
    ownStreams: [],
    listsConsumersOf: ["ticks"],
  },
  "token-service": {
    user: "token-service",
    produces: ["token.refreshed", "token.failed", "operator.alert"],
    consumes: [
      { durable: "token-service-refresh", stream: "ticks", filterSubject: "tick.token-refresh" },
      {
        durable: "token-service-refresh-requests",
        stream: "tokens",
        filterSubject: "token.refresh-requested",
      },
    ],
    coreSubjects: ["token-service.refresh.wake"],
    ownStreams: ["tokenJournal"],
  },
  poller: {
    user: "poller",
    produces: ["data.ingested", "token.refresh-requested"],
    consumes: [
      { durable: "poller-tick", stream: "ticks", filterSubject: "tick.poll" },
      { durable: "poller-token-refreshed", stream: "tokens", filterSubject: "token.refreshed" },
      { durable: "poller-token-failed", stream: "tokens", filterSubject: "token.failed" },
    ],
    coreSubjects: ["poller.run.wake"],
    ownStreams: [],
  },
  "health-scorer": {
    user: "health-scorer",
    produces: ["health.changed"],
    consumes: [
      { durable: "health-scorer-data", stream: "data", filterSubject: "data.ingested" },
      {
        durable: "health-scorer-token-refreshed",
        stream: "tokens",
        filterSubject: "token.refreshed",
      },
      { durable: "health-scorer-token-failed", stream: "tokens", filterSubject: "token.failed" },
      { durable: "health-scorer-sweep", stream: "ticks", filterSubject: "tick.health-sweep" },
    ],
    coreSubjects: ["health-scorer.sweep.wake"],
    ownStreams: [],
  },
  notifier: {
    user: "notifier",
    produces: ["notification.created", "notification.delivered"],
    consumes: [
      { durable: "notifier-token-failed", stream: "tokens", filterSubject: "token.failed" },
      { durable: "notifier-token-refreshed", stream: "tokens", filterSubject: "token.refreshed" },
      { durable: "notifier-health", stream: "health", filterSubject: "health.changed" },
      { durable: "notifier-digest", stream: "ticks", filterSubject: "tick.weekly-digest" },
    ],
    // A user's notifications changed (`notifier.changes.<userId>`): every replica's live streams
    // of that user hear it.
    coreSubjects: ["notifier.changes.*"],
    ownStreams: [],
  },
} as const satisfies Record<string, ServiceIdentity>;

export type ServiceName = keyof typeof serviceIdentities;
export const serviceIdentityList: readonly ServiceIdentity[] = Object.values(serviceIdentities);

/**
 * The people running Syncwell: publish by hand (`nats pub`), read any stream, replay dead letters,
 * manage streams and consumers. Never given to a service.
 */
export const OPERATOR_USER = "operator";

/**
 * Environment variable holding a user's password: the NATS server reads it in its configuration
 * (`$POLLER_NATS_PASSWORD`) and the service gets the same value as NATS_PASSWORD.
 */
export function natsPasswordVariable(user: string): string {
  return `${user.toUpperCase().replaceAll("-", "_")}_NATS_PASSWORD`;
}

/**
 * Inbox prefix of a user's connection. Replies to JetStream API calls and pulled messages arrive on
 * inbox subjects; a prefix per user lets each subscribe only to its own, so one service cannot read
 * another's messages off the inboxes.
 */
export function natsInboxPrefix(user: string): string {
  return `_INBOX_${user}`;
}
