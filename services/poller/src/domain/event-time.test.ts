import { describe, expect, it } from "vitest";
import { calendarInstant } from "./event-time.ts";

const iso = (time: Parameters<typeof calendarInstant>[0], zone?: string | null) =>
  calendarInstant(time, zone)?.toISOString() ?? null;

describe("calendarInstant", () => {
  it("takes a date-time with an offset as it is, whatever the zones say", () => {
    expect(iso({ dateTime: "2030-03-04T10:00:00+02:00", timeZone: "Asia/Tokyo" }, "America/Lima")).toBe(
      "2030-03-04T08:00:00.000Z",
    );
    expect(iso({ dateTime: "2030-03-04T10:00:00.250Z" })).toBe("2030-03-04T10:00:00.250Z");
  });

  it("reads a date-time without an offset in the event's zone, else the calendar's, else UTC", () => {
    expect(iso({ dateTime: "2030-01-15T09:00:00", timeZone: "America/New_York" }, "Asia/Tokyo")).toBe(
      "2030-01-15T14:00:00.000Z",
    );
    expect(iso({ dateTime: "2030-01-15T09:00" }, "Asia/Tokyo")).toBe("2030-01-15T00:00:00.000Z");
    expect(iso({ dateTime: "2030-01-15T09:00:00" })).toBe("2030-01-15T09:00:00.000Z");
  });

  it("follows daylight saving time, moving a time that does not exist forward", () => {
    expect(iso({ dateTime: "2030-07-15T09:00:00" }, "Europe/Berlin")).toBe("2030-07-15T07:00:00.000Z");
    expect(iso({ dateTime: "2030-03-31T02:30:00" }, "Europe/Paris")).toBe("2030-03-31T01:30:00.000Z");
  });

  it("puts an all-day event at midnight of its date in the zone, up to 14 hours from UTC", () => {
    expect(iso({ date: "2030-03-06" }, "Pacific/Kiritimati")).toBe("2030-03-05T10:00:00.000Z");
    expect(iso({ date: "2030-03-06" }, "Pacific/Pago_Pago")).toBe("2030-03-06T11:00:00.000Z");
    expect(iso({ date: "2030-03-06" })).toBe("2030-03-06T00:00:00.000Z");
  });

  it("reads an unknown zone as UTC, and refuses what is not a time", () => {
    expect(iso({ date: "2030-03-06", timeZone: "Mars/Olympus_Mons" })).toBe("2030-03-06T00:00:00.000Z");
    expect(iso({ dateTime: "tomorrow" })).toBeNull();
    expect(iso({ date: "2030-13-01" })).toBeNull();
    expect(iso({})).toBeNull();
  });
});
