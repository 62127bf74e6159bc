import { describe, expect, it } from "vitest";
import { payloadJson } from "./payload-json.ts";

describe("payload JSON", () => {
  it("is JSON.stringify's text for ordinary payloads, key order as given", () => {
    const payload = { b: 1, a: { y: [1, { q: 1, p: 2 }], x: null } };
    expect(payloadJson(payload)).toBe(JSON.stringify(payload));
  });

  it("follows JSON.stringify for undefined, dates and non-finite numbers", () => {
    const date = new Date("2026-11-21T10:00:00.000Z");
    expect(payloadJson({ a: undefined, d: date, n: Number.NaN, arr: [undefined] })).toBe(
      '{"d":"2026-11-21T10:00:00.000Z","n":null,"arr":[null]}',
    );
    expect(payloadJson("x")).toBe('"x"');
    expect(payloadJson(undefined)).toBe("null");
    expect(payloadJson(null)).toBe("null");
  });

  it("replaces NUL characters, which jsonb refuses, in values and keys, but not an escaped backslash", () => {
    expect(payloadJson({ s: "a\u0000b", "k\u0000": [1, "\u0000"] })).toBe(
      '{"s":"a\uFFFDb","k\uFFFD":[1,"\uFFFD"]}',
    );
    // The text \u0000 (a backslash, then "u0000") is not a NUL and is kept.
    expect(JSON.parse(payloadJson({ s: "\\u0000", n: "\u0000" }))).toEqual({ s: "\\u0000", n: "\uFFFD" });
  });

  it("writes bigints as strings and keeps a __proto__ member a member", () => {
    expect(payloadJson({ big: 12n, nested: [{ n: 1n }] })).toBe('{"big":"12","nested":[{"n":"1"}]}');
    expect(payloadJson(JSON.parse('{"b":1,"__proto__":{"x":1}}'))).toBe('{"b":1,"__proto__":{"x":1}}');
    expect(payloadJson(JSON.parse('{"__proto__":{"x":"\\u0000"}}'))).toBe('{"__proto__":{"x":"\uFFFD"}}');
  });

  it("refuses a cycle with JSON.stringify's error", () => {
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(() => payloadJson(cycle)).toThrow(TypeError);
  });
});
