import { TZDate } from "@date-fns/tz";

/** A Calendar `start` (or `end`): `date` for an all-day event, else `dateTime`, and an optional zone. */
export type CalendarTime = {
  date?: string | null | undefined;
  dateTime?: string | null | undefined;
  timeZone?: string | null | undefined;
};

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const LOCAL = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?$/;

/**
 * The instant a Calendar time names:
 * - `dateTime` with an offset (or `Z`) is that instant;
 * - `dateTime` without one is a wall-clock time in the event's `timeZone`, else the calendar's:
 *   Google's description requires the offset only "unless a time zone is explicitly specified";
 * - `date` (an all-day event) is midnight of that date in the same zone, so the date read back in
 *   the calendar's zone is the date the user sees, not the day before or after (up to 14 h).
 * A zone that is missing or unknown to this runtime's time-zone data reads as UTC: the time is
 * then off by the zone's offset, but the event is kept. Null when the value is not a date at all.
 */
export function calendarInstant(time: CalendarTime, calendarTimeZone?: string | null): Date | null {
  const zone = time.timeZone ?? calendarTimeZone ?? null;
  if (typeof time.dateTime === "string") {
    const local = LOCAL.exec(time.dateTime);
    if (local === null) return validDate(Date.parse(time.dateTime));
    const [, y, mo, d, h, mi, s, fraction] = local;
    const ms = fraction === undefined ? 0 : Math.floor(Number(fraction) * 1000);
    return wallClock(zone, [Number(y), Number(mo), Number(d), Number(h), Number(mi), Number(s ?? 0), ms]);
  }
  if (typeof time.date === "string") {
    const day = DATE.exec(time.date);
    if (day === null) return null;
    return wallClock(zone, [Number(day[1]), Number(day[2]), Number(day[3]), 0, 0, 0, 0]);
  }
  return null;
}

type Fields = [
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  ms: number,
];

/** The instant of a wall-clock time in `zone` (UTC without one); a time skipped by DST moves forward. */
function wallClock(zone: string | null, [y, mo, d, h, mi, s, ms]: Fields): Date | null {
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return null;
  const utc = Date.UTC(y, mo - 1, d, h, mi, s, ms);
  if (zone === null || zone === "UTC") return validDate(utc);
  const zoned = new TZDate(y, mo - 1, d, h, mi, s, ms, zone).getTime();
  // An unknown zone gives NaN: read as UTC (see calendarInstant).
  return validDate(Number.isNaN(zoned) ? utc : zoned);
}

function validDate(ms: number): Date | null {
  return Number.isNaN(ms) ? null : new Date(ms);
}
