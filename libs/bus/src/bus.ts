import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Context } from "@opentelemetry/api";
import { type AnyEvent, streamList } from "@syncwell/contracts";
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
  const nc = await connect({
    servers: options.servers.split(",").map((s) => s.trim()),
    name: options.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1_000,
    // nats.js otherwise builds two errors (stack traces included) ahead of every request, in case
    // it fails — for every JetStream publish, about a tenth of a publish's CPU. A failed request
    // still rejects with its error; the trace then ends in nats.js instead of at our call site.
    noAsyncTraces: true,
  });
  logger.info({ server: nc.getServer(), prefix: naming.prefix || "(none)" }, "connected to NATS");
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect" || status.type === "reconnect") {
        logger.warn({ status: status.type }, "NATS connection status changed");
      }
    }
  })();

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
      await nc.flush();
    },
    async close() {
      await Promise.allSettled(consumers.map((c) => c.stop()));
      await Promise.allSettled(relays.map((r) => r.stop()));
      if (!nc.isClosed()) await nc.drain();
      logger.info("bus closed");
    },
  };
}
