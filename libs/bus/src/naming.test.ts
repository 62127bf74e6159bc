import { describe, expect, it } from "vitest";
import { Naming } from "./naming.ts";

describe("Naming", () => {
  it("prefixes subjects and streams and strips the prefix back", () => {
    const n = new Naming("run-42");
    expect(n.subject("token.refreshed")).toBe("run-42.token.refreshed");
    expect(n.relative("run-42.token.refreshed")).toBe("token.refreshed");
    expect(n.stream({ name: "TOKENS" })).toBe("RUN_42_TOKENS");
  });

  it("leaves names alone without a prefix", () => {
    const n = new Naming();
    expect(n.subject("tick.poll")).toBe("tick.poll");
    expect(n.stream({ name: "TICKS" })).toBe("TICKS");
  });

  it("rejects a prefix that would break subjects", () => {
    expect(() => new Naming("a.b")).toThrow(/invalid NATS prefix "a.b"/);
    expect(() => new Naming("a b")).toThrow(/letters, digits/);
  });
});
