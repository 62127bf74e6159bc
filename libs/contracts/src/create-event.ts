import { catalog, type EventInput, type EventOf, type EventType } from "./catalog.ts";
import { uuidv7 } from "./ids.ts";
import { formatIssues } from "./validate.ts";

export class EventValidationError extends Error {
  override readonly name = "EventValidationError";
}

/**
 * Builds a validated envelope for `type`. Throws EventValidationError naming the bad fields:
 * a service that builds a wrong event has a bug, and it should surface at the call site.
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
  return parsed.data as EventOf<T>;
}

/** Relative subject (no deployment prefix) that an event is published under. */
export function subjectOf(event: EventOf<EventType>): string {
  const def = catalog[event.type] as { subject: (data: unknown) => string };
  return def.subject(event.data);
}
