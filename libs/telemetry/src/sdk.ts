import { FastifyOtelInstrumentation } from "@fastify/otel";
import { DiagLogLevel, diag, type TextMapPropagator } from "@opentelemetry/api";
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { HttpInstrumentation } from "@opentelemetry/instrumentation-http";
import { PgInstrumentation } from "@opentelemetry/instrumentation-pg";
import { NodeSDK, type NodeSDKConfiguration } from "@opentelemetry/sdk-node";
import { BatchSpanProcessor } from "@opentelemetry/sdk-trace";
import { nameFastifySpan } from "./fastify-span-names.ts";
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
  // `${OTEL_EXPORTER_OTLP_ENDPOINT}/v1/traces` (default http://localhost:4318): far fewer bytes than
  // JSON, which matters at thousands of spans a second (docs/decisions/0012). If the operator
  // picked an exporter or a protocol (`OTEL_EXPORTER_OTLP_PROTOCOL=http/json`) through the
  // standard variables, the SDK builds the exporter from them instead.
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
    ...(exporterChosenByEnv ? {} : { spanProcessors: [batchProcessor(env, new OTLPTraceExporter())] }),
    ...(propagator ? { textMapPropagator: propagator } : {}),
    // Metrics go through prom-client's /metrics and logs through pino's stdout; the SDK would
    // otherwise default both to OTLP, which Jaeger rejects. Opt in with the standard variables.
    ...(env.OTEL_METRICS_EXPORTER === undefined ? { metricReaders: [] } : {}),
    ...(env.OTEL_LOGS_EXPORTER === undefined ? { logRecordProcessors: [] } : {}),
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (req) => isUntracedPath(req.url),
      }),
      new PgInstrumentation({
        // A query that no operation of ours started (an idle poll, a pool's own connect, a start-up
        // check) would be a one-span trace of its own: thousands of them an hour on an idle system.
        requireParentSpan: true,
        // Connections are pooled: a connect span per checkout doubles the spans and says little.
        ignoreConnectSpans: true,
      }),
      // Fastify 5 announces each new instance on the `fastify.initialization` diagnostics
      // channel; with registerOnInitialization the plugin attaches itself there, so services do
      // not register it by hand and no module patching is involved.
      new FastifyOtelInstrumentation({
        registerOnInitialization: true,
        ignorePaths: (route) => isUntracedPath(route.url),
        lifecycleHook: nameFastifySpan,
      }),
    ],
  };
}

/**
 * The SDK's batch processor drops spans silently once its queue is full (2,048 by default), and a
 * dropped parent leaves its exported children without one. A tick run ends thousands of spans a
 * second, so the queue is larger here; OTEL_BSP_* still override every setting.
 */
const DEFAULT_MAX_QUEUE_SIZE = 16_384;
const DEFAULT_MAX_EXPORT_BATCH_SIZE = 1_024;

function numberFromEnv(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const value = Number(env[name]?.trim() || Number.NaN);
  return Number.isFinite(value) && value >= 0 ? value : undefined;
}

function batchProcessor(env: NodeJS.ProcessEnv, exporter: OTLPTraceExporter): BatchSpanProcessor {
  return new BatchSpanProcessor({
    exporter,
    maxQueueSize: numberFromEnv(env, "OTEL_BSP_MAX_QUEUE_SIZE") ?? DEFAULT_MAX_QUEUE_SIZE,
    maxExportBatchSize: numberFromEnv(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE") ?? DEFAULT_MAX_EXPORT_BATCH_SIZE,
    scheduledDelayMillis: numberFromEnv(env, "OTEL_BSP_SCHEDULE_DELAY"),
    exportTimeoutMillis: numberFromEnv(env, "OTEL_BSP_EXPORT_TIMEOUT"),
  });
}

/**
 * The SDK reports dropped spans and failed exports only through its diagnostics logger, which is
 * silent unless OTEL_LOG_LEVEL is set: without one, spans would go missing with no trace of why.
 */
function reportSdkWarnings(env: NodeJS.ProcessEnv): void {
  if (env.OTEL_LOG_LEVEL !== undefined) return;
  const write =
    (level: string) =>
    (message: string, ...args: unknown[]) => {
      const detail = args.map((a) => (a instanceof Error ? a.message : String(a))).join(" ");
      process.stderr.write(
        `${JSON.stringify({ level, msg: `telemetry: ${message}`, ...(detail && { detail }) })}\n`,
      );
    };
  const ignore = () => {};
  diag.setLogger(
    { error: write("error"), warn: write("warn"), info: ignore, debug: ignore, verbose: ignore },
    DiagLogLevel.WARN,
  );
}

/**
 * Starts the OpenTelemetry Node SDK once per process. Returns false when disabled
 * (OTEL_SDK_DISABLED=true) or already started. Never throws: a telemetry problem must not keep a
 * service from starting.
 */
export function startTelemetry(env: NodeJS.ProcessEnv = process.env): boolean {
  if (isTelemetryDisabled(env) || isTelemetryStarted()) return false;
  try {
    reportSdkWarnings(env);
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
