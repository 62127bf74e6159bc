import { collectDefaultMetrics, Histogram, type Registry, register } from "prom-client";

/**
 * The process's one Prometheus registry. It is prom-client's global registry on purpose: libraries
 * that register on the default (the bus does) end up on /metrics without being handed a registry.
 */
export const metricsRegistry: Registry = register;

const withDefaults = new WeakSet<Registry>();

/** Process metrics (CPU, memory, event loop lag, GC, handles), registered once per registry. */
export function ensureDefaultMetrics(registry: Registry = metricsRegistry): void {
  if (withDefaults.has(registry)) return;
  withDefaults.add(registry);
  collectDefaultMetrics({ register: registry });
}

ensureDefaultMetrics(metricsRegistry);

const httpHistograms = new WeakMap<Registry, Histogram<"method" | "route" | "status_code">>();

/** HTTP request durations by route template (not raw URL, so ids do not explode the label set). */
export function httpRequestDuration(
  registry: Registry = metricsRegistry,
): Histogram<"method" | "route" | "status_code"> {
  const cached = httpHistograms.get(registry);
  if (cached) return cached;
  const histogram = new Histogram({
    name: "http_request_duration_seconds",
    help: "HTTP requests served, by method, route template and status code",
    labelNames: ["method", "route", "status_code"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  httpHistograms.set(registry, histogram);
  return histogram;
}
