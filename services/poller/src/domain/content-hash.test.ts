import { describe, expect, it } from "vitest";
import { canonicalJson, contentHash } from "./content-hash.ts";

describe("canonical JSON and content hash", () => {
  it("ignores key order at every depth, keeps array order", () => {
    const a = { b: 1, a: { y: [1, { q: 1, p: 2 }], x: null } };
    const b = { a: { x: null, y: [1, { p: 2, q: 1 }] }, b: 1 };
    expect(canonicalJson(a)).toBe('{"a":{"x":null,"y":[1,{"p":2,"q":1}]},"b":1}');
    expect(contentHash(canonicalJson(a))).toBe(contentHash(canonicalJson(b)));
    expect(canonicalJson([2, 1])).not.toBe(canonicalJson([1, 2]));
    expect(contentHash(canonicalJson(a))).toMatch(/^[0-9a-f]{64}$/);
  });

  it("follows JSON.stringify for undefined, dates and non-finite numbers, and drops NUL characters", () => {
    const date = new Date("2026-11-21T10:00:00.000Z");
    expect(canonicalJson({ a: undefined, d: date, n: Number.NaN, arr: [undefined] })).toBe(
      '{"arr":[null],"d":"2026-11-21T10:00:00.000Z","n":null}',
    );
    expect(canonicalJson({ s: "a\u0000b" })).toBe('{"s":"a\uFFFDb"}');
    expect(canonicalJson("x")).toBe('"x"');
    expect(canonicalJson({ big: 12n })).toBe('{"big":"12"}');
    expect(canonicalJson(JSON.parse('{"b":1,"__proto__":{"x":1}}'))).toBe('{"__proto__":{"x":1},"b":1}');
    expect(canonicalJson(null)).toBe("null");
  });
});
