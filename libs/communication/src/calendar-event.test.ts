import { describe, expect, it } from "vitest";
import { calendarEventCommunication } from "./calendar-event.ts";

/** An `events.list` item, as Google Calendar sends it and the poller stores it. */
function event(fields: Record<string, unknown>): Record<string, unknown> {
  return {
    kind: "calendar#event",
    etag: '"3461234567890000"',
    id: "5q1v3o7kcd2h1mlb9m3bd7d0s4",
    status: "confirmed",
    htmlLink: "https://www.google.com/calendar/event?eid=NXExdjNvN2tjZDJoMW1sYjltM2JkN2QwczQ",
    created: "2025-11-20T09:12:44.000Z",
    updated: "2025-11-20T09:15:02.113Z",
    summary: "Quarterly review",
    creator: { email: "ann.lee@example.com" },
    organizer: { email: "Ann.Lee@Example.com" },
    start: { dateTime: "2025-12-04T10:00:00+01:00", timeZone: "Europe/Paris" },
    end: { dateTime: "2025-12-04T11:00:00+01:00", timeZone: "Europe/Paris" },
    iCalUID: "5q1v3o7kcd2h1mlb9m3bd7d0s4@google.com",
    sequence: 0,
    attendees: [
      { email: "ann.lee@example.com", organizer: true, responseStatus: "accepted" },
      { email: "me@example.com", self: true, responseStatus: "needsAction" },
      { email: "BOB@Corp.io", responseStatus: "accepted" },
      {
        email: "c_1889kq0v8hq4@resource.calendar.google.com",
        displayName: "Room 4.01",
        resource: true,
        responseStatus: "accepted",
      },
    ],
    reminders: { useDefault: true },
    eventType: "default",
    ...fields,
  };
}

describe("calendarEventCommunication", () => {
  it("reads the organizer and the attendees, without rooms or the organizer twice, in any case", () => {
    expect(calendarEventCommunication(event({}))).toEqual({
      channel: "meeting",
      from: "Ann.Lee@Example.com",
      to: ["me@example.com", "BOB@Corp.io"],
      fromSelf: false,
    });
  });

  it("leaves out the organizer by address too, and marks the user's own meeting", () => {
    const mine = event({
      organizer: { email: "me@example.com", self: true },
      attendees: [{ email: "ME@example.com" }, { email: "carol@x.io" }],
      start: { date: "2025-12-06" },
    });
    expect(calendarEventCommunication(mine)).toEqual({
      channel: "meeting",
      from: "me@example.com",
      to: ["carol@x.io"],
      fromSelf: true,
    });
  });

  it("is null for a cancelled event and one without a start", () => {
    expect(calendarEventCommunication(event({ status: "cancelled" }))).toBeNull();
    expect(calendarEventCommunication({ id: "x", status: "cancelled" })).toBeNull();
    expect(calendarEventCommunication(event({ start: null }))).toBeNull();
  });

  it("reads odd shapes leniently: no organizer, attendees without an address", () => {
    const odd = event({
      organizer: null,
      attendees: [{ displayName: "Someone" }, null, { email: "d@d.io" }],
    });
    expect(calendarEventCommunication(odd)).toEqual({
      channel: "meeting",
      from: null,
      to: ["d@d.io"],
      fromSelf: false,
    });
  });
});
