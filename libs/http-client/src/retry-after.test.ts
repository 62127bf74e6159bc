import { describe, expect, it } from "vitest";
import { parseRetryAfter } from "./retry-after.ts";

describe("parseRetryAfter (RFC 9110 §10.2.3)", () => {
  const now = Date.parse("2026-11-21T10:00:00Z");
  it.each<[string | null | undefined, number | undefined]>([
    // delay-seconds: a non-negative decimal integer.
    ["30", 30_000],
    [" 0 ", 0],
    ["120", 120_000],
    // HTTP-date, IMF-fixdate: the date's distance from now, 0 once past.
    ["Sat, 21 Nov 2026 10:01:00 GMT", 60_000],
    ["Sat, 21 Nov 2026 10:00:42 GMT", 42_000],
    ["Sat, 21 Nov 2026 09:00:00 GMT", 0],
    // The obsolete forms a recipient must accept: RFC 850 (two-digit year) and asctime (in GMT).
    ["Saturday, 21-Nov-26 10:00:30 GMT", 30_000],
    ["Sat Nov 21 10:00:05 2026", 5_000],
    ["Sun Nov  1 10:00:00 2026", 0],
    // Neither form: the caller's default applies.
    ["1.5", undefined],
    ["-1", undefined],
    ["soon", undefined],
    ["2026-11-21T10:01:00Z", undefined],
    ["Sat, 21 Nov 2026 10:01:00 +0000", undefined],
    ["Sat, 32 Nov 2026 10:01:00 GMT", undefined],
    ["", undefined],
    [null, undefined],
    [undefined, undefined],
  ])("%j → %j", (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });

  it("reads a two-digit year more than 50 years ahead as the most recent past year", () => {
    // In 2026, "77" is 1977 (2077 would be 51 years ahead): long past, so no wait.
    expect(parseRetryAfter("Sunday, 21-Nov-77 10:00:00 GMT", now)).toBe(0);
    // "76" is 2076, exactly 50 years ahead.
    expect(parseRetryAfter("Saturday, 21-Nov-76 10:00:00 GMT", now)).toBe(
      Date.parse("2076-11-21T10:00:00Z") - now,
    );
  });
});
