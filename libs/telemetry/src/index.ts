export {
  isTelemetryStarted,
  type ShutdownTelemetryOptions,
  shutdownTelemetry,
  UNTRACED_PATHS,
} from "./lifecycle.ts";
export { type CreateLoggerOptions, createLogger, type Logger } from "./logger.ts";
export { REDACTED, redactPaths, redactSecrets, SECRET_KEYS } from "./redact.ts";
export {
  type RepeatedFailureLog,
  type RepeatedFailureLogOptions,
  repeatedFailureLog,
} from "./repeated-failure.ts";
export { inSpan, withoutTracing } from "./span.ts";
