import { FastifyOtelInstrumentation } from "@fastify/otel";
import type { TextMapPropagator } from "@opentelemetry/api";
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { HttpInstrumentation } from "@opentelemetry/instrumentation-http";
import { PgInstrumentation } from "@opentelemetry/instrumentation-pg";
import { NodeSDK, type NodeSDKConfiguration } from "@opentelemetry/sdk-node";
import { isTelemetryDisabled, isTelemetryStarted, isUntracedPath, setStartedSdk } from "./lifecycle.ts";

/**
 * The service name: OTEL_SERVICE_NAME (standard), then SERVICE_NAME, then the directory of a
 * `services/<name>/…` entry point, so an unconfigured local run is still told apart in Jaeger.
 */
export function resolveServiceName(
  env: NodeJS.ProcessEnv = process.env,
  entry: string | undefined = process.argv[1],
): string | undefined {
  const fromEnv = env.OTEL_SERVICE_NAME?.trim() || env.SERVICE_NAME?.trim();
  if (fromEnv) return fromEnv;
  const match = entry?.match(/services[\\/]([^\\/]+)[\\/]/);
  return match?.[1];
}

export function buildSdkConfiguration(env: NodeJS.ProcessEnv = process.env): Partial<NodeSDKConfiguration> {
  const serviceName = resolveServiceName(env);
  // OTLP/HTTP protobuf (the OTLP default, which Jaeger accepts) to
  // `${OTEL_EXPORTER_OTLP_ENDPOINT}/v1/traces` (default http://localhost:4318): a fifth of the bytes
  // of JSON, which matters at thousands of spans a second. If the operator picked an exporter or a
  // protocol (`OTEL_EXPORTER_OTLP_PROTOCOL=http/json`) through the standard variables, the SDK
  // builds the exporter from them instead.
  const exporterChosenByEnv =
    env.OTEL_TRACES_EXPORTER !== undefined ||
    env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL !== undefined ||
    env.OTEL_EXPORTER_OTLP_PROTOCOL !== undefined;
  const propagator: TextMapPropagator | undefined =
    env.OTEL_PROPAGATORS === undefined
      ? new CompositePropagator({
          propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
        })
      : undefined;

  return {
    ...(serviceName ? { serviceName } : {}),
    ...(exporterChosenByEnv ? {} : { traceExporter: new OTLPTraceExporter() }),
    ...(propagator ? { textMapPropagator: propagator } : {}),
    // Metrics go through prom-client's /metrics and logs through pino's stdout; the SDK would
    // otherwise default both to OTLP, which Jaeger rejects. Opt in with the standard variables.
    ...(env.OTEL_METRICS_EXPORTER === undefined ? { metricReaders: [] } : {}),
    ...(env.OTEL_LOGS_EXPORTER === undefined ? { logRecordProcessors: [] } : {}),
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (req) => isUntracedPath(req.url),
      }),
      new PgInstrumentation(),
      // Fastify 5 announces each new instance on the `fastify.initialization` diagnostics
      // channel; with registerOnInitialization the plugin attaches itself there, so services do
      // not register it by hand and no module patching is involved.
      new FastifyOtelInstrumentation({
        registerOnInitialization: true,
        ignorePaths: (route) => isUntracedPath(route.url),
      }),
    ],
  };
}

/**
 * Starts the OpenTelemetry Node SDK once per process. Returns false when disabled
 * (OTEL_SDK_DISABLED=true) or already started. Never throws: a telemetry problem must not keep a
 * service from starting.
 */
export function startTelemetry(env: NodeJS.ProcessEnv = process.env): boolean {
  if (isTelemetryDisabled(env) || isTelemetryStarted()) return false;
  try {
    const sdk = new NodeSDK(buildSdkConfiguration(env));
    sdk.start();
    setStartedSdk(sdk);
    return true;
  } catch (err) {
    process.stderr.write(
      `${JSON.stringify({ level: "error", msg: "telemetry failed to start; continuing without it", err: String(err) })}\n`,
    );
    return false;
  }
}
