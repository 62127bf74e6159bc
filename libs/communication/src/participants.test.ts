import { describe, expect, it } from "vitest";
import { communicationParties } from "./participants.ts";

const self = new Set(["me@example.com"]);

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
