import { describe, expect, it } from "vitest";
import { createRng } from "./seed.ts";
import { isoString, utcString } from "./time.ts";

describe("timestamps", () => {
  it("are written as toISOString and toUTCString write them", () => {
    const rng = createRng(42);
    const samples = [
      0,
      1,
      999,
      Date.parse("2026-12-31T23:59:59.999Z"),
      Date.parse("2028-02-29T12:00:00.000Z"),
      Date.UTC(9999, 11, 31, 23, 59, 59, 999),
      Date.UTC(10_000, 0, 1),
      Date.UTC(1969, 11, 31, 23, 59, 59, 500),
      -1,
      1.5,
      8.64e15,
    ];
    for (let i = 0; i < 20_000; i += 1) samples.push(Math.floor(rng.next() * Date.UTC(2100, 0, 1)));
    for (const ms of samples) {
      expect(isoString(ms), String(ms)).toBe(new Date(ms).toISOString());
      expect(utcString(ms), String(ms)).toBe(new Date(ms).toUTCString());
    }
  });

  it("fail for an invalid time as Date does", () => {
    expect(() => isoString(Number.NaN)).toThrow(RangeError);
    expect(() => isoString(8.64e15 + 1)).toThrow(RangeError);
    expect(utcString(Number.NaN)).toBe("Invalid Date");
  });
});
