import { describe, expect, it } from "vitest";
import { grantsAnyOf, intervalFor, parseIntervals, tokenUsable } from "./schedule.ts";

describe("intervals", () => {
  it("parses per platform and per resource intervals; the more specific wins", () => {
    const parsed = parseIntervals(" gmail.messages=15m, github=10m ,calendar.events=90s");
    expect(parsed).toEqual({
      ok: true,
      intervals: new Map([
        ["gmail.messages", 900_000],
        ["github", 600_000],
        ["calendar.events", 90_000],
      ]),
    });
    if (!parsed.ok) throw new Error("unreachable");
    expect(intervalFor(parsed.intervals, 1_800_000, "gmail", "messages")).toBe(900_000);
    expect(intervalFor(parsed.intervals, 1_800_000, "github", "events")).toBe(600_000);
    expect(intervalFor(parsed.intervals, 1_800_000, "spotify", "recently-played")).toBe(1_800_000);
    expect(parseIntervals("")).toEqual({ ok: true, intervals: new Map() });
  });

  it("rejects malformed lists with the item at fault", () => {
    expect(parseIntervals("gmail.messages")).toMatchObject({
      ok: false,
      error: expect.stringContaining("gmail.messages"),
    });
    expect(parseIntervals("gmail=soon")).toMatchObject({ ok: false });
    expect(parseIntervals("gmail=10ms")).toMatchObject({
      ok: false,
      error: expect.stringContaining("at least 1s"),
    });
    expect(parseIntervals("gmail=1m,gmail=2m")).toMatchObject({
      ok: false,
      error: expect.stringContaining("twice"),
    });
    expect(parseIntervals("Gmail Messages=1m")).toMatchObject({ ok: false });
  });
});

describe("token usability", () => {
  const now = Date.parse("2026-11-21T10:00:00Z");
  it("needs more than the minimum validity left, unless the token never expires", () => {
    expect(tokenUsable({ expiresAt: new Date(now + 121_000), expiresNever: false }, now, 120_000)).toBe(true);
    expect(tokenUsable({ expiresAt: new Date(now + 120_000), expiresNever: false }, now, 120_000)).toBe(
      false,
    );
    expect(tokenUsable({ expiresAt: new Date(now - 1), expiresNever: false }, now, 0)).toBe(false);
    expect(tokenUsable({ expiresAt: null, expiresNever: false }, now, 0)).toBe(false);
    expect(tokenUsable({ expiresAt: null, expiresNever: true }, now, 120_000)).toBe(true);
  });
});

describe("scopes", () => {
  it("allow a resource that needs none, or when the connection has any of those it needs", () => {
    expect(grantsAnyOf([], [])).toBe(true);
    expect(grantsAnyOf(["guilds", "identify"], ["guilds"])).toBe(true);
    expect(grantsAnyOf(["gmail.metadata"], ["gmail.readonly", "gmail.metadata"])).toBe(true);
    expect(grantsAnyOf(["identify"], ["guilds"])).toBe(false);
    expect(grantsAnyOf([], ["guilds"])).toBe(false);
  });
});
