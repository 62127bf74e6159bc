import { metricsRegistry } from "@syncwell/runtime";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

export type PollerMetrics = {
  /** outcome: polled | failed | skipped; reason: the error kind or skip reason ("none" when polled). */
  polls: Counter<"platform" | "outcome" | "reason">;
  /** outcome: added | updated | unchanged | deleted. */
  records: Counter<"platform" | "outcome">;
  communicationEvents: Counter<"platform">;
  /** Items a connector left out of their page; reason: the field and what is wrong with it. */
  itemsSkipped: Counter<"platform" | "resource" | "reason">;
  pollDuration: Histogram<"platform">;
  /** status: HTTP status class (2xx, 3xx, 4xx, 5xx) or "error" when no response came back. */
  requests: Counter<"platform" | "status">;
  requestDuration: Histogram<"platform">;
  inFlight: Gauge<"platform">;
  /** Counts one platform request and its duration (series bound once per label set: a hot path). */
  observeRequest(platform: string, status: number | "error", durationMs: number): void;
};

const cache = new WeakMap<Registry, PollerMetrics>();

/** One set per registry: several engines in one process (tests, the benchmark) share the series. */
export function pollerMetrics(registry: Registry = metricsRegistry): PollerMetrics {
  const cached = cache.get(registry);
  if (cached) return cached;
  const requestSeries = new Map<string, ReturnType<PollerMetrics["requests"]["labels"]>>();
  const durationSeries = new Map<string, ReturnType<PollerMetrics["requestDuration"]["labels"]>>();
  const metrics: PollerMetrics = {
    polls: new Counter({
      name: "syncwell_poller_polls_total",
      help: "Resource polls by platform, outcome and reason",
      labelNames: ["platform", "outcome", "reason"],
      registers: [registry],
    }),
    records: new Counter({
      name: "syncwell_poller_records_total",
      help: "Records stored by platform and outcome (added, updated, unchanged, deleted)",
      labelNames: ["platform", "outcome"],
      registers: [registry],
    }),
    communicationEvents: new Counter({
      name: "syncwell_poller_communication_events_total",
      help: "Communication events created from messages and meetings with known contacts",
      labelNames: ["platform"],
      registers: [registry],
    }),
    itemsSkipped: new Counter({
      name: "syncwell_poller_items_skipped_total",
      help: "Items a connector could not use and skipped (their page was stored), by reason",
      labelNames: ["platform", "resource", "reason"],
      registers: [registry],
    }),
    pollDuration: new Histogram({
      name: "syncwell_poller_poll_seconds",
      help: "Duration of one resource poll (all its pages), by platform",
      labelNames: ["platform"],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    requests: new Counter({
      name: "syncwell_poller_requests_total",
      help: "Platform API requests by platform and status class",
      labelNames: ["platform", "status"],
      registers: [registry],
    }),
    requestDuration: new Histogram({
      name: "syncwell_poller_request_seconds",
      help: "Duration of platform API requests",
      labelNames: ["platform"],
      buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15],
      registers: [registry],
    }),
    inFlight: new Gauge({
      name: "syncwell_poller_polls_in_flight",
      help: "Resource polls running in this replica",
      labelNames: ["platform"],
      registers: [registry],
    }),
    observeRequest(platform, status, durationMs) {
      const statusClass = status === "error" ? "error" : `${Math.floor(status / 100)}xx`;
      const key = `${platform}\u0000${statusClass}`;
      let counter = requestSeries.get(key);
      if (!counter) {
        counter = metrics.requests.labels({ platform, status: statusClass });
        requestSeries.set(key, counter);
      }
      counter.inc();
      let histogram = durationSeries.get(platform);
      if (!histogram) {
        histogram = metrics.requestDuration.labels({ platform });
        durationSeries.set(platform, histogram);
      }
      histogram.observe(durationMs / 1000);
    },
  };
  cache.set(registry, metrics);
  return metrics;
}
