import { metricsRegistry } from "@syncwell/runtime";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

export type RefreshMetrics = {
  /** outcome: refreshed | failed | skipped; classification: transient | permanent | operator | none. */
  refreshes: Counter<"provider" | "outcome" | "classification">;
  /** Time of the token request alone (HTTP), by provider. */
  requestDuration: Histogram<"provider">;
  operatorAlerts: Counter<"provider" | "error_code">;
  /** 1 while a provider is held after an operator error. */
  providerHeld: Gauge<"provider">;
  /** Token requests in flight in this replica. */
  inFlight: Gauge<"provider">;
  /** Grants refused after an earlier answer (and its rotated refresh token) was lost. */
  rotationLost: Counter<"provider">;
  /** Rotation journal: recorded, record_failed, replayed. */
  journal: Counter<"event">;
  /** From a rotated answer's arrival to its journal write acknowledged: the window a kill -9 can lose. */
  journalWrite: Histogram;
};

const cache = new WeakMap<Registry, RefreshMetrics>();

/** One set per registry: several engines in one process (tests) share the series. */
export function refreshMetrics(registry: Registry = metricsRegistry): RefreshMetrics {
  const cached = cache.get(registry);
  if (cached) return cached;
  const metrics: RefreshMetrics = {
    refreshes: new Counter({
      name: "syncwell_token_refresh_total",
      help: "Token refresh attempts by provider, outcome and failure classification",
      labelNames: ["provider", "outcome", "classification"],
      registers: [registry],
    }),
    requestDuration: new Histogram({
      name: "syncwell_token_refresh_request_seconds",
      help: "Duration of token requests to the provider",
      labelNames: ["provider"],
      buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    operatorAlerts: new Counter({
      name: "syncwell_token_refresh_operator_alerts_total",
      help: "Operator alerts raised because a provider rejected Syncwell's client configuration",
      labelNames: ["provider", "error_code"],
      registers: [registry],
    }),
    providerHeld: new Gauge({
      name: "syncwell_token_refresh_provider_held",
      help: "1 while refreshes to a provider are held after an operator error (until its configuration changes)",
      labelNames: ["provider"],
      registers: [registry],
    }),
    rotationLost: new Counter({
      name: "syncwell_token_refresh_rotation_lost_total",
      help: "Grants refused (invalid_grant) after an earlier answer never arrived: its rotated refresh token was lost, the user did not revoke",
      labelNames: ["provider"],
      registers: [registry],
    }),
    journal: new Counter({
      name: "syncwell_token_refresh_journal_total",
      help: "Rotated refresh tokens in the journal: recorded, record_failed (NATS unreachable; retried), replayed (applied from the journal by a claim or at start)",
      labelNames: ["event"],
      registers: [registry],
    }),
    journalWrite: new Histogram({
      name: "syncwell_token_refresh_journal_write_seconds",
      help: "Time from a rotated answer's arrival to its journal entry acknowledged by JetStream (a process killed within it loses that answer)",
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    inFlight: new Gauge({
      name: "syncwell_token_refresh_in_flight",
      help: "Token requests in flight in this replica",
      labelNames: ["provider"],
      registers: [registry],
    }),
  };
  cache.set(registry, metrics);
  return metrics;
}
