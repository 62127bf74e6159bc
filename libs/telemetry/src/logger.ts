import { hostname } from "node:os";
import { isSpanContextValid, trace } from "@opentelemetry/api";
import { type DestinationStream, type Logger, type LoggerOptions, pino, stdSerializers } from "pino";
import { REDACTED, redactPaths, redactSecrets } from "./redact.ts";

export type { Logger } from "pino";

export type CreateLoggerOptions = {
  service: string;
  /** pino level; default "info". */
  level?: string;
  /** Human-readable output through pino-pretty (LOG_PRETTY). Off unless asked for. */
  pretty?: boolean;
  /** Where JSON lines go; default stdout. Ignored when `pretty` is set. */
  destination?: DestinationStream;
};

/** trace_id / span_id of the active span, so a log line leads to its trace in Jaeger. */
function traceMixin(): Record<string, string> {
  const spanContext = trace.getActiveSpan()?.spanContext();
  if (!spanContext || !isSpanContextValid(spanContext)) return {};
  return { trace_id: spanContext.traceId, span_id: spanContext.spanId };
}

type SerializedError = ReturnType<typeof stdSerializers.err>;

/** Errors often quote a provider's response: mask credentials in their message and stack. */
function errSerializer(err: Error): SerializedError {
  const serialized = stdSerializers.err(err);
  if (typeof serialized.message === "string") serialized.message = redactSecrets(serialized.message);
  if (typeof serialized.stack === "string") serialized.stack = redactSecrets(serialized.stack);
  return serialized;
}

export function createLogger(options: CreateLoggerOptions): Logger {
  const config: LoggerOptions = {
    level: options.level ?? "info",
    base: { service: options.service, pid: process.pid, hostname: hostname() },
    mixin: traceMixin,
    redact: { paths: redactPaths(), censor: REDACTED },
    serializers: { err: errSerializer, error: errSerializer },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  if (options.pretty) {
    return pino({
      ...config,
      transport: {
        target: "pino-pretty",
        options: { colorize: true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname" },
      },
    });
  }
  return options.destination ? pino(config, options.destination) : pino(config);
}
