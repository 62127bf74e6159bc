import type { z } from "zod";
import { dataIngested } from "./events/data-ingested.ts";
import { healthChanged } from "./events/health-changed.ts";
import { notificationCreated } from "./events/notification-created.ts";
import { notificationDelivered } from "./events/notification-delivered.ts";
import { operatorAlert } from "./events/operator-alert.ts";
import { tick } from "./events/tick.ts";
import { tokenFailed } from "./events/token-failed.ts";
import { tokenRefreshRequested } from "./events/token-refresh-requested.ts";
import { tokenRefreshed } from "./events/token-refreshed.ts";

/**
 * Every event type of the system, in the order of the flow. Services import from here; they never
 * redeclare an event's shape. Add an event: write `events/<name>.ts` with `defineEvent`, list it
 * here, run `npm run contracts:export`.
 */
export const catalog = {
  [tick.type]: tick,
  [tokenRefreshed.type]: tokenRefreshed,
  [tokenFailed.type]: tokenFailed,
  [tokenRefreshRequested.type]: tokenRefreshRequested,
  [dataIngested.type]: dataIngested,
  [healthChanged.type]: healthChanged,
  [notificationCreated.type]: notificationCreated,
  [notificationDelivered.type]: notificationDelivered,
  [operatorAlert.type]: operatorAlert,
} as const;

export type Catalog = typeof catalog;
export type EventType = keyof Catalog;
export type EventData<T extends EventType> = z.output<Catalog[T]["data"]>;
export type EventInput<T extends EventType> = z.input<Catalog[T]["data"]>;
/** A validated envelope of type T. */
export type EventOf<T extends EventType> = z.output<Catalog[T]["envelope"]>;
/** Any validated event of the catalog, discriminated on `type`. */
export type AnyEvent = { [T in EventType]: EventOf<T> }[EventType];

export const eventTypes = Object.keys(catalog) as EventType[];

export function isEventType(type: string): type is EventType {
  return Object.hasOwn(catalog, type);
}
