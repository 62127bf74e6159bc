import { Counter, register as defaultRegistry, Gauge, Histogram, type Registry } from "prom-client";

/**
 * Bus metrics in Prometheus form. Created once per registry (tests create several buses in one
 * process, and prom-client refuses to register a name twice).
 */
export type BusMetrics = {
  handled: Counter<"type" | "consumer" | "outcome">;
  deadLettered: Counter<"type" | "consumer" | "reason">;
  handlerDuration: Histogram<"type" | "consumer">;
  /** Ticks acked without running them (too old). */
  ticksSkipped: Counter<"schedule" | "reason">;
  /** Handlers stopped by their consumer's time limit. */
  handlerTimeouts: Counter<"type" | "consumer">;
  published: Counter<"type" | "outcome">;
  outboxLag: Gauge;
  outboxPending: Gauge;
  /** Outbox rows set aside after failing to publish too often, by event type. */
  outboxSetAside: Counter<"type">;
  /** Set-aside rows of this relay's source waiting for an operator. */
  outboxSetAsideWaiting: Gauge;
};

const cache = new WeakMap<Registry, BusMetrics>();

export function busMetrics(registry: Registry = defaultRegistry): BusMetrics {
  const cached = cache.get(registry);
  if (cached) return cached;
  const registers = [registry];
  const metrics: BusMetrics = {
    handled: new Counter({
      name: "syncwell_messages_handled_total",
      help: "Messages a consumer finished, by outcome (ok, retried, dead_lettered, duplicate)",
      labelNames: ["type", "consumer", "outcome"],
      registers,
    }),
    deadLettered: new Counter({
      name: "syncwell_messages_dead_lettered_total",
      help: "Messages moved to the dead-letter stream, by reason (invalid, handler, unhandled_type)",
      labelNames: ["type", "consumer", "reason"],
      registers,
    }),
    handlerDuration: new Histogram({
      name: "syncwell_handler_duration_seconds",
      help: "Time spent in an event handler",
      labelNames: ["type", "consumer"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    ticksSkipped: new Counter({
      name: "syncwell_ticks_skipped_total",
      help: "Ticks acked without running their job (stale: older than the consumer allows)",
      labelNames: ["schedule", "reason"],
      registers,
    }),
    handlerTimeouts: new Counter({
      name: "syncwell_handler_timeouts_total",
      help: "Handlers aborted because they exceeded their consumer's time limit (the message is retried or dead-lettered)",
      labelNames: ["type", "consumer"],
      registers,
    }),
    published: new Counter({
      name: "syncwell_messages_published_total",
      help: "Events published, by outcome (stored, duplicate, failed)",
      labelNames: ["type", "outcome"],
      registers,
    }),
    outboxLag: new Gauge({
      name: "syncwell_outbox_lag_seconds",
      help: "Age of the oldest outbox event not yet published (0 when the outbox is empty)",
      registers,
    }),
    outboxPending: new Gauge({
      name: "syncwell_outbox_pending",
      help: "Outbox events not yet published, as last seen by the relay",
      registers,
    }),
    outboxSetAside: new Counter({
      name: "syncwell_outbox_set_aside_total",
      help: "Outbox events set aside after failing to publish too often (list and retry them with `npm run outbox`)",
      labelNames: ["type"],
      registers,
    }),
    outboxSetAsideWaiting: new Gauge({
      name: "syncwell_outbox_set_aside",
      help: "Outbox events of this service set aside and waiting for an operator; alert when above 0",
      registers,
    }),
  };
  cache.set(registry, metrics);
  return metrics;
}
