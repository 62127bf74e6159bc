import type { Communication } from "./participants.ts";
import { field } from "./payload-field.ts";

/**
 * Who a Google Calendar event (`events.list` item, as the API returns it and the poller stores it)
 * involves: its organizer as `from` and its attendees as `to`, in any case, without rooms and
 * equipment (attendees too, but not people) and without the organizer twice. `fromSelf` when
 * Google marks the user as the organizer. Null for a cancelled event and one without a start:
 * nothing took place.
 *
 * Read leniently, as Google's types make nearly every field optional and nullable. When the event
 * happened (its start in its time zone) is the caller's to read.
 */
export function calendarEventCommunication(event: unknown): Communication | null {
  const start = field(event, "start");
  if (field(event, "status") === "cancelled" || typeof start !== "object" || start === null) return null;
  const organizer = field(event, "organizer");
  const organizerEmail = field(organizer, "email");
  const from = typeof organizerEmail === "string" ? organizerEmail : null;
  const to: string[] = [];
  const attendees = field(event, "attendees");
  for (const attendee of Array.isArray(attendees) ? attendees : []) {
    // Rooms and equipment are attendees too, but not people; the organizer is already `from`.
    if (field(attendee, "resource") === true || field(attendee, "organizer") === true) continue;
    const email = field(attendee, "email");
    if (typeof email === "string" && email.toLowerCase() !== from?.toLowerCase()) to.push(email);
  }
  return { channel: "meeting", from, to, fromSelf: field(organizer, "self") === true };
}
