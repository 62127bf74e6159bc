import { DAY, HOUR, MINUTE } from "./seed.ts";

/**
 * Timestamps as the platforms write them, cheaper than Date's own formatting: every rendered item
 * has a few timestamps, and the simulator shares its machine with what benchmarks measure
 * (docs/decisions/0014). The date part is formatted by Date once per day and cached; the time of
 * day is arithmetic.
 */

/** Date writes four-digit years up to here (later years, and years before 0, differently). */
const YEAR_10000 = Date.UTC(10_000, 0, 1);
/** Bounds each cache; generated data spans a few hundred days. */
const MAX_CACHED_DAYS = 10_000;

/** The date part of each day (days since the epoch) formatted so far. */
function dayCache(format: (dayStart: Date) => string): (day: number) => string {
  const days = new Map<number, string>();
  return (day) => {
    let text = days.get(day);
    if (text === undefined) {
      if (days.size >= MAX_CACHED_DAYS) days.clear();
      text = format(new Date(day * DAY));
      days.set(day, text);
    }
    return text;
  };
}

/** `2026-01-31T` */
const isoDate = dayCache((dayStart) => dayStart.toISOString().slice(0, 11));
/** `Sat, 31 Jan 2026 ` */
const utcDate = dayCache((dayStart) => dayStart.toUTCString().slice(0, 17));

/** Whether the fast path writes what Date does: a whole ms count in years 1970–9999. */
function cacheable(ms: number): boolean {
  return Number.isInteger(ms) && ms >= 0 && ms < YEAR_10000;
}

/** `00` … `59` and `000` … `999`, made once: padStart on every call cost more than the rest. */
const TWO_DIGITS = Array.from({ length: 60 }, (_, i) => String(i).padStart(2, "0"));
const THREE_DIGITS = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, "0"));

/** `09:30:05` */
function timeOfDay(time: number): string {
  const hours = TWO_DIGITS[Math.floor(time / HOUR)];
  const minutes = TWO_DIGITS[Math.floor((time % HOUR) / MINUTE)];
  const seconds = TWO_DIGITS[Math.floor((time % MINUTE) / 1000)];
  return `${hours}:${minutes}:${seconds}`;
}

/** `new Date(ms).toISOString()`: `2026-01-31T09:30:05.123Z`. */
export function isoString(ms: number): string {
  if (!cacheable(ms)) return new Date(ms).toISOString();
  const day = Math.floor(ms / DAY);
  const time = ms - day * DAY;
  return `${isoDate(day)}${timeOfDay(time)}.${THREE_DIGITS[time % 1000]}Z`;
}

/** `new Date(ms).toUTCString()`: `Sat, 31 Jan 2026 09:30:05 GMT`. */
export function utcString(ms: number): string {
  if (!cacheable(ms)) return new Date(ms).toUTCString();
  const day = Math.floor(ms / DAY);
  return `${utcDate(day)}${timeOfDay(ms - day * DAY)} GMT`;
}
