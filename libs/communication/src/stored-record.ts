import { calendarEventCommunication } from "./calendar-event.ts";
import { gmailMessageCommunication } from "./gmail-message.ts";
import type { Communication } from "./participants.ts";

/** A platform record as the poller stores it (`raw_records`): its platform, resource and payload. */
export type StoredRecord = { platform: string; resource: string; payload: unknown };

/**
 * The platforms' resources whose records can be communication, each with the reader of its stored
 * payload: the readers the connectors use when they poll, so a stored record involves the same
 * people it involved when it was polled.
 */
export const communicationResources = [
  { platform: "gmail", resource: "messages", read: gmailMessageCommunication },
  { platform: "calendar", resource: "events", read: calendarEventCommunication },
] as const;

/**
 * Who a stored record involves; null when its resource is not communication, or the record is not
 * (a draft, spam, a cancelled event). The record must also have a time (`occurred_at`) to be
 * communication, as the poller requires of the records it polls.
 */
export function storedRecordCommunication(record: StoredRecord): Communication | null {
  const found = communicationResources.find(
    (r) => r.platform === record.platform && r.resource === record.resource,
  );
  return found === undefined ? null : found.read(record.payload);
}
