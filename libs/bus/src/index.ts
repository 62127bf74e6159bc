export { type Bus, type BusOptions, createBus } from "./bus.ts";
export {
  type ConsumerDefinition,
  type Handler,
  type HandlerContext,
  type HandlerMap,
  HandlerTimeoutError,
  type RunningConsumer,
  type StartAt,
} from "./consumer.ts";
export { type DeadLetterReason, DL_HEADERS } from "./dead-letter.ts";
export { applyOnce, type InboxEntry, type InboxResult, recordFirstApplications } from "./inbox.ts";
export { type BusMetrics, busMetrics } from "./metrics.ts";
export { Naming } from "./naming.ts";
export { enqueueEvents, type OutboxRow, outboxRow } from "./outbox/enqueue.ts";
export { OUTBOX_CHANNEL, type OutboxRelay } from "./outbox/relay.ts";
export { listSetAside, retrySetAside, type SetAsideEvent } from "./outbox/set-aside.repository.ts";
export {
  type NatsPermissions,
  type NatsUser,
  natsUsers,
  operatorPermissions,
  renderNatsAuthorization,
  servicePermissions,
} from "./permissions.ts";
export { type StreamOverrides, streamConfig } from "./provision.ts";
export {
  assertValidEvent,
  EVENT_TYPE_HEADER,
  EVENT_VERSION_HEADER,
  type PublishResult,
  PublishValidationError,
} from "./publisher.ts";
export {
  defaultRetryPolicy,
  PermanentError,
  RetryLaterError,
  type RetryPolicy,
} from "./retry-policy.ts";
export {
  contextFromRecord,
  extractTraceContext,
  injectTraceContext,
  traceContextRecord,
} from "./trace-context.ts";
