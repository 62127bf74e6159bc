import { describe, expect, it } from "vitest";
import { communicationParties, normalizeAddress } from "./participants.ts";

const self = new Set(["me@example.com"]);

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

describe("communication parties", () => {
  it("an email the user sent is outbound to every recipient", () => {
    expect(
      communicationParties(
        { channel: "email", from: "Me <ME@example.com>", to: ["A@x.org", "b@x.org", "me@example.com"] },
        self,
      ),
    ).toEqual({ direction: "outbound", counterparts: ["a@x.org", "b@x.org"] });
  });

  it("an email someone else sent is inbound from the sender only", () => {
    expect(
      communicationParties({ channel: "email", from: "a@x.org", to: ["me@example.com", "b@x.org"] }, self),
    ).toEqual({
      direction: "inbound",
      counterparts: ["a@x.org"],
    });
  });

  it("a meeting organised by someone else is inbound with everyone in it; fromSelf marks the user's own", () => {
    expect(
      communicationParties({ channel: "meeting", from: "a@x.org", to: ["b@x.org", "me@example.com"] }, self),
    ).toEqual({
      direction: "inbound",
      counterparts: ["a@x.org", "b@x.org"],
    });
    expect(
      communicationParties(
        { channel: "meeting", from: null, fromSelf: true, to: ["b@x.org", "B@x.org"] },
        self,
      ),
    ).toEqual({
      direction: "outbound",
      counterparts: ["b@x.org"],
    });
  });
});
