export { normalizeAddress } from "./addresses.ts";
export * from "./catalog.ts";
export * from "./create-event.ts";
export * from "./define-event.ts";
export * from "./envelope.ts";
export { dataIngested } from "./events/data-ingested.ts";
export {
  type HealthStatus,
  type HealthSubjectKind,
  healthChanged,
  healthStatuses,
} from "./events/health-changed.ts";
export {
  type NotificationChannel,
  notificationChannels,
  notificationCreated,
} from "./events/notification-created.ts";
export {
  type DeliveryStatus,
  deliveryStatuses,
  notificationDelivered,
} from "./events/notification-delivered.ts";
export { type AlertSeverity, alertSeverities, operatorAlert } from "./events/operator-alert.ts";
export { scheduleName, tick } from "./events/tick.ts";
export { type FailureClassification, failureClassifications, tokenFailed } from "./events/token-failed.ts";
export { tokenRefreshRequested } from "./events/token-refresh-requested.ts";
export { tokenRefreshed } from "./events/token-refreshed.ts";
export * as fields from "./fields.ts";
export { type ConnectionStatus, connectionStatuses } from "./fields.ts";
export * from "./identities.ts";
export { NIL_UUID, uuidv7 } from "./ids.ts";
export * from "./json-schema.ts";
export { isProviderId, type ProviderId, providerIds } from "./providers.ts";
export * from "./streams.ts";
export * from "./validate.ts";
