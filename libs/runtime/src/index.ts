export { type Backoff, backoffDelayMs } from "./backoff.ts";
export { BatchQueue, type BatchQueueOptions } from "./batch-queue.ts";
export { bearerAuth } from "./bearer-auth.ts";
export {
  ConfigError,
  type ConfigIssue,
  exitOnConfigError,
  formatConfigError,
  loadConfig,
  maskCredentials,
} from "./config.ts";
export {
  type CommonConfig,
  commonEnv,
  envBool,
  envBytes,
  envDurationMs,
  envInt,
  envNatsServers,
  envPort,
  envUrl,
  HTTP_TIMEOUT_DEFAULTS,
  parseBytes,
  parseDurationMs,
} from "./env.ts";
export {
  createHttpServer,
  type ErrorBody,
  type ErrorDetail,
  type HttpServerOptions,
  type HttpTimeouts,
  PROBE_ROUTES,
  type ReadinessCheck,
  sendError,
} from "./http-server.ts";
export { ensureDefaultMetrics, httpRequestDuration, metricsRegistry } from "./metrics.ts";
export {
  findInputProblems,
  type InputLocation,
  type InputProblem,
  inputError,
  MAX_INPUT_DEPTH,
  parseInput,
  textProblem,
} from "./request-input.ts";
export { clientRequestId, REDACTED_PARAM, redactUrl } from "./request-log.ts";
export { Condition, Semaphore } from "./semaphore.ts";
export { createShutdown, type Shutdown, type ShutdownOptions } from "./shutdown.ts";
export { sleep } from "./sleep.ts";
