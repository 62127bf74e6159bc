import pg from "pg";

const TIMESTAMPTZ_OID = 1184;
const defaultParser = pg.types.getTypeParser(TIMESTAMPTZ_OID, "text") as (text: string) => Date | number;

/** The value of the decimal digits text[from, to); NaN if one is not a digit. */
function digits(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return Number.NaN;
    n = n * 10 + d;
  }
  return n;
}

/**
 * A timestamptz as Postgres writes it in a UTC session — `2026-12-07 18:00:00.123456+00`, the
 * fraction optional — read by position into a Date (fraction truncated to the millisecond, as
 * node-postgres does). Anything else (another offset, ±infinity, BC, a year before 1000 or past
 * 9999) goes to node-postgres's own parser. Services read many timestamps per batch, and that
 * parser runs three regular expressions on each and allocates their matches.
 */
export function parseTimestamptz(text: string): Date | number {
  const n = text.length;
  if (
    n >= 22 &&
    text.charCodeAt(4) === 45 && // -
    text.charCodeAt(7) === 45 &&
    text.charCodeAt(10) === 32 && // space
    text.charCodeAt(13) === 58 && // :
    text.charCodeAt(16) === 58 &&
    text.charCodeAt(n - 3) === 43 && // +00
    text.charCodeAt(n - 2) === 48 &&
    text.charCodeAt(n - 1) === 48 &&
    text.charCodeAt(0) !== 48 // a year before 1000 (Date.UTC reads 0–99 as 1900–1999)
  ) {
    let ms = 0;
    if (n > 22) {
      if (text.charCodeAt(19) !== 46 || n > 29) return defaultParser(text); // "." and at most 6 digits
      const fraction = text.slice(20, Math.min(n - 3, 23));
      ms = digits(fraction, 0, fraction.length) * 10 ** (3 - fraction.length);
    }
    const utc = Date.UTC(
      digits(text, 0, 4),
      digits(text, 5, 7) - 1,
      digits(text, 8, 10),
      digits(text, 11, 13),
      digits(text, 14, 16),
      digits(text, 17, 19),
      ms,
    );
    if (!Number.isNaN(utc)) return new Date(utc);
  }
  return defaultParser(text);
}

/** The type parsers of the project's pools: node-postgres's, with `parseTimestamptz` for timestamptz. */
export const typeParsers = {
  getTypeParser(oid: number, format?: "text" | "binary") {
    if (oid === TIMESTAMPTZ_OID && format !== "binary") return parseTimestamptz;
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;
