import { describe, expect, it } from "vitest";
import { normalizeAddress } from "./addresses.ts";

describe("addresses", () => {
  it("extracts and lowercases the bare address", () => {
    expect(normalizeAddress("ADA@Example.com")).toBe("ada@example.com");
    expect(normalizeAddress('"Lovelace, Ada" <Ada@Example.com>')).toBe("ada@example.com");
    expect(normalizeAddress("mailto:Bob@x.org")).toBe("bob@x.org");
    expect(normalizeAddress(" carol@x.org ")).toBe("carol@x.org");
    expect(normalizeAddress("not an address")).toBeNull();
    expect(normalizeAddress("@x.org")).toBeNull();
    expect(normalizeAddress(null)).toBeNull();
    // Postgres text cannot hold NUL: such an address could never match a contact.
    expect(normalizeAddress("ada\u0000@x.org")).toBeNull();
  });
});
