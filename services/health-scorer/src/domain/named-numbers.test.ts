import { describe, expect, it } from "vitest";
import { parseNamedNumbers } from "./named-numbers.ts";

describe("name=number lists", () => {
  it("parses free names through the key, whitespace allowed, an empty list allowed", () => {
    const parsed = parseNamedNumbers(" Lead = 14, closed won=2.5 ,,proposal=14", {
      key: (name) => name.toLowerCase(),
      positive: true,
    });
    expect(parsed).toEqual({
      ok: true,
      values: new Map([
        ["lead", 14],
        ["closed won", 2.5],
        ["proposal", 14],
      ]),
    });
    expect(parseNamedNumbers("", { positive: true })).toEqual({ ok: true, values: new Map() });
  });

  it("matches listed names without case and returns them as listed", () => {
    const parsed = parseNamedNumbers("GHOSTRISK=0.2,recency=0", {
      names: ["recency", "ghostRisk"],
      positive: false,
    });
    expect(parsed).toEqual({
      ok: true,
      values: new Map([
        ["ghostRisk", 0.2],
        ["recency", 0],
      ]),
    });
  });

  it.each([
    ["lead", { positive: true }, "is not <name>=<number>"],
    ["=14", { positive: true }, "is not <name>=<number>"],
    ["le/ad=14", { positive: true }, "is not <name>=<number>"],
    ["lead=soon", { positive: true }, "needs a number above 0"],
    ["lead=0", { positive: true }, "needs a number above 0"],
    ["lead=-1", { positive: false }, "needs a number of 0 or more"],
    ["lead=1e3", { positive: true }, "needs a number above 0"],
    ["lead=NaN", { positive: true }, "needs a number above 0"],
    ["lead=", { positive: true }, "needs a number above 0"],
    ["lead=1,LEAD=2", { positive: true, key: (n: string) => n.toLowerCase() }, '"lead" is listed twice'],
    ["speed=1", { positive: false, names: ["recency"] }, "one of recency"],
  ])("refuses %s, saying what is wrong", (raw, options, error) => {
    const parsed = parseNamedNumbers(raw, options);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toContain(error);
  });
});
