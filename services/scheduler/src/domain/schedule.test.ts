import { describe, expect, it } from "vitest";
import {
  checkCronPattern,
  compileSchedule,
  isValidTimezone,
  latestSlotAtOrBefore,
  nextSlotAfter,
} from "./schedule.ts";

const every5min = compileSchedule({
  name: "token-refresh",
  pattern: "*/5 * * * *",
  timezone: "UTC",
  variable: "SCHEDULE_TOKEN_REFRESH",
});

const at = (iso: string) => new Date(iso);

describe("slots", () => {
  it("takes the latest slot at or before now, a slot exactly at now included", () => {
    expect(latestSlotAtOrBefore(every5min, at("2026-11-21T10:05:00.000Z"))).toEqual(
      at("2026-11-21T10:05:00.000Z"),
    );
    expect(latestSlotAtOrBefore(every5min, at("2026-11-21T10:04:59.999Z"))).toEqual(
      at("2026-11-21T10:00:00.000Z"),
    );
    expect(latestSlotAtOrBefore(every5min, at("2026-11-21T10:09:59.999Z"))).toEqual(
      at("2026-11-21T10:05:00.000Z"),
    );
  });

  it("takes the next slot strictly after a time", () => {
    expect(nextSlotAfter(every5min, at("2026-11-21T10:05:00.000Z"))).toEqual(at("2026-11-21T10:10:00.000Z"));
    expect(nextSlotAfter(every5min, at("2026-11-21T10:04:59.999Z"))).toEqual(at("2026-11-21T10:05:00.000Z"));
  });

  it("supports seconds", () => {
    const everySecond = compileSchedule({
      name: "s",
      pattern: "* * * * * *",
      timezone: "UTC",
      variable: "X",
    });
    expect(latestSlotAtOrBefore(everySecond, at("2026-11-21T10:05:03.250Z"))).toEqual(
      at("2026-11-21T10:05:03.000Z"),
    );
    expect(nextSlotAfter(everySecond, at("2026-11-21T10:05:03.250Z"))).toEqual(
      at("2026-11-21T10:05:04.000Z"),
    );
  });

  it("reads the expression in the schedule's time zone, DST included", () => {
    const berlin = compileSchedule({
      name: "d",
      pattern: "0 8 * * *",
      timezone: "Europe/Berlin",
      variable: "X",
    });
    // Winter (UTC+1) and summer (UTC+2).
    expect(nextSlotAfter(berlin, at("2026-01-10T00:00:00Z"))).toEqual(at("2026-01-10T07:00:00.000Z"));
    expect(nextSlotAfter(berlin, at("2026-07-10T00:00:00Z"))).toEqual(at("2026-07-10T06:00:00.000Z"));
    // 02:30 does not exist on 2026-03-29 in Berlin: a fixed-time job runs once, right after the gap.
    const night = compileSchedule({
      name: "n",
      pattern: "30 2 * * *",
      timezone: "Europe/Berlin",
      variable: "X",
    });
    expect(nextSlotAfter(night, at("2026-03-28T12:00:00Z"))).toEqual(at("2026-03-29T01:00:00.000Z"));
  });

  it("has no slots when switched off", () => {
    const off = compileSchedule({ name: "o", pattern: null, timezone: "UTC", variable: "X" });
    expect(off.cron).toBeNull();
    expect(latestSlotAtOrBefore(off, new Date())).toBeNull();
    expect(nextSlotAfter(off, new Date())).toBeNull();
  });
});

describe("validation", () => {
  it("accepts 5- and 6-field expressions and nicknames, and explains the rest", () => {
    expect(checkCronPattern("*/5 * * * *")).toEqual({ ok: true });
    expect(checkCronPattern("*/10 * * * * *")).toEqual({ ok: true });
    expect(checkCronPattern("@weekly")).toEqual({ ok: true });
    const bad = checkCronPattern("61 * * * *");
    expect(bad.ok).toBe(false);
    expect(bad.ok ? "" : bad.message).toMatch(/minute/);
    expect(checkCronPattern("every five minutes").ok).toBe(false);
  });

  it("knows IANA time zones", () => {
    expect(isValidTimezone("UTC")).toBe(true);
    expect(isValidTimezone("Europe/Berlin")).toBe(true);
    expect(isValidTimezone("Mars/Olympus_Mons")).toBe(false);
  });
});
