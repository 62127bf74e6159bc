import { catalog, type EventInput, type EventOf, type EventType } from "./catalog.ts";
import { uuidv7 } from "./ids.ts";
import { formatIssues } from "./validate.ts";

export class EventValidationError extends Error {
  override readonly name = "EventValidationError";
}

/** The envelopes createEvent built: valid when built, and frozen, so still valid. */
const built = new WeakSet<object>();

/**
 * Whether createEvent built this envelope: then it needs no second check before it leaves the
 * process (it would otherwise be checked again when written to the outbox and when published).
 */
export function isBuiltEvent(event: object): boolean {
  return built.has(event);
}

/** Freezes a parsed JSON value and everything in it. */
function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/**
 * Builds a validated envelope for `type`, frozen (isBuiltEvent). Throws EventValidationError
 * naming the bad fields: a service that builds a wrong event has a bug, and it should surface at
 * the call site.
 */
export function createEvent<T extends EventType>(
  type: T,
  data: EventInput<T>,
  options: { source: string; id?: string; occurredAt?: Date | string },
): EventOf<T> {
  const def = catalog[type];
  const occurredAt = options.occurredAt ?? new Date();
  const candidate = {
    id: options.id ?? uuidv7(),
    type,
    version: def.version,
    occurredAt: typeof occurredAt === "string" ? occurredAt : occurredAt.toISOString(),
    source: options.source,
    data,
  };
  const parsed = def.envelope.safeParse(candidate);
  if (!parsed.success) throw new EventValidationError(`invalid ${type}: ${formatIssues(parsed.error)}`);
  const event = deepFreeze(parsed.data) as EventOf<T>;
  built.add(event);
  return event;
}

/** Relative subject (no deployment prefix) that an event is published under. */
export function subjectOf(event: EventOf<EventType>): string {
  const def = catalog[event.type] as { subject: (data: unknown) => string };
  return def.subject(event.data);
}
