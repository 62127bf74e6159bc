import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Context } from "@opentelemetry/api";
import { type AnyEvent, natsInboxPrefix, streamList } from "@syncwell/contracts";
import type { Pool } from "pg";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { type ConsumerDefinition, type RunningConsumer, startConsumer } from "./consumer.ts";
import { type BusMetrics, busMetrics } from "./metrics.ts";
import { Naming } from "./naming.ts";
import { type OutboxRelay, type OutboxRelayOptions, startOutboxRelay } from "./outbox/relay.ts";
import { ensureStream, type StreamOverrides, streamConfig } from "./provision.ts";
import { type PublishResult, publishEvent } from "./publisher.ts";

export type BusOptions = {
  /** NATS server URL(s), comma-separated. */
  servers: string;
  /** Deployment prefix for subjects and streams ("" for none). */
  prefix?: string;
  /** Connection name shown by the server (the service name). */
  name: string;
  logger: Logger;
  registry?: Registry;
  streamOverrides?: StreamOverrides;
  publishTimeoutMs?: number;
  /**
   * NATS user and password of this service (libs/contracts/src/identities.ts); both or neither.
   * With a user, replies come to `_INBOX_<user>`, the only inbox its permissions let it read.
   */
  user?: string;
  password?: string;
};

export type Bus = {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly naming: Naming;
  readonly metrics: BusMetrics;
  /** Creates or updates every stream of the contracts; safe from many replicas at once. */
  provision(): Promise<void>;
  publish(event: AnyEvent, parent?: Context): Promise<PublishResult>;
  consume(definition: ConsumerDefinition): Promise<RunningConsumer>;
  startOutboxRelay(
    options: Omit<OutboxRelayOptions, "publish" | "logger" | "metrics"> & { pool: Pool },
  ): Promise<OutboxRelay>;
  /** Round trip to the server; rejects when NATS is unreachable (for readiness). */
  ping(): Promise<void>;
  /** Stops consumers (in-flight handlers finish and ack), then drains and closes the connection. */
  close(): Promise<void>;
};

export async function createBus(options: BusOptions): Promise<Bus> {
  const logger = options.logger.child({ component: "bus" });
  const naming = new Naming(options.prefix ?? "");
  const metrics = busMetrics(options.registry);
  const publishTimeoutMs = options.publishTimeoutMs ?? 5_000;
  if ((options.user === undefined) !== (options.password === undefined)) {
    throw new Error("a NATS user needs a password and a password a user (NATS_USER, NATS_PASSWORD)");
  }
  const nc = await connect({
    servers: options.servers.split(",").map((s) => s.trim()),
    name: options.name,
    ...(options.user !== undefined && {
      user: options.user,
      pass: options.password,
      inboxPrefix: natsInboxPrefix(options.user),
    }),
    // Reconnect for as long as the process lives: a NATS outage must not end the service.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1_000,
    // A connection that went silent without closing (a host gone) is noticed within about a minute.
    pingInterval: 30_000,
    maxPingOut: 2,
    // nats.js otherwise builds two errors (stack traces included) ahead of every request, in case
    // it fails: a cost on every JetStream publish, almost never used (docs/decisions/0012). A
    // failed request still rejects with its error; the trace then ends in nats.js instead of at
    // our call site.
    noAsyncTraces: true,
  });
  logger.info({ server: nc.getServer(), prefix: naming.prefix || "(none)" }, "connected to NATS");
  const connection = watchConnection(nc, logger);

  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const consumers: RunningConsumer[] = [];
  const relays: OutboxRelay[] = [];

  const publish = (event: AnyEvent, parent?: Context) =>
    publishEvent({ js, naming, metrics, timeoutMs: publishTimeoutMs }, event, parent);

  return {
    nc,
    js,
    jsm,
    naming,
    metrics,
    async provision() {
      for (const def of streamList) {
        await ensureStream(jsm, streamConfig(def, naming, options.streamOverrides), logger);
      }
    },
    publish,
    async consume(definition) {
      const running = await startConsumer({ js, jsm, naming, metrics, logger, publishTimeoutMs }, definition);
      consumers.push(running);
      return running;
    },
    async startOutboxRelay(relayOptions) {
      const relay = await startOutboxRelay({ ...relayOptions, publish, logger: options.logger, metrics });
      relays.push(relay);
      return relay;
    },
    async ping() {
      // While nats.js reconnects, a flush would wait for the connection: fail at once instead.
      if (nc.isClosed()) throw new Error("NATS connection closed");
      if (!connection.connected) throw new Error("NATS disconnected; reconnecting");
      await nc.flush();
    },
    async close() {
      connection.closing = true;
      await Promise.allSettled(consumers.map((c) => c.stop()));
      await Promise.allSettled(relays.map((r) => r.stop()));
      // Draining needs the server; without it there is nothing left to flush but to let go.
      if (!nc.isClosed()) await (connection.connected ? nc.drain() : nc.close());
      logger.info("bus closed");
    },
  };
}

type ConnectionState = { connected: boolean; closing: boolean };

/**
 * Follows the connection's status for readiness and the logs: one line when it drops, one when it
 * is back (nats.js keeps reconnecting in between; its per-attempt events are not logged). A
 * connection that closes without `close()` (the server refused us for good) is logged, not thrown:
 * readiness then fails, and the process keeps serving its probes.
 */
function watchConnection(nc: NatsConnection, logger: Logger): ConnectionState {
  const state: ConnectionState = { connected: true, closing: false };
  let lostAt = 0;
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect" && state.connected) {
        state.connected = false;
        lostAt = Date.now();
        logger.warn({ server: status.server }, "NATS connection lost; reconnecting");
      } else if (status.type === "reconnect") {
        state.connected = true;
        logger.info({ server: status.server, downForMs: Date.now() - lostAt }, "NATS connection restored");
      } else if (status.type === "error") {
        logger.warn({ err: status.error }, "NATS reported an error");
      }
    }
  })().catch((err: unknown) => logger.warn({ err }, "stopped following the NATS connection status"));
  void nc.closed().then((err) => {
    state.connected = false;
    if (!state.closing)
      logger.error({ err }, "NATS connection closed and will not reconnect; restart the process");
  });
  return state;
}
