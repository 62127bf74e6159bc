import { describe, expect, it } from "vitest";
import { communicationCandidates, selfAddressesOf } from "./candidates.ts";
import { storedRecordCommunication } from "./stored-record.ts";

const gmail = {
  id: "18c9a7e5d2f41b03",
  labelIds: ["INBOX"],
  internalDate: "1764928800000",
  payload: {
    headers: [
      { name: "From", value: "Ann <ann@x.io>" },
      { name: "To", value: "me@example.com" },
    ],
  },
};
const calendar = {
  id: "5q1v3o7kcd2h1mlb9m3bd7d0s4",
  status: "confirmed",
  organizer: { email: "me@example.com", self: true },
  start: { dateTime: "2025-12-04T10:00:00Z" },
  attendees: [{ email: "bob@y.io" }],
};

describe("storedRecordCommunication", () => {
  it("reads a stored Gmail message and Calendar event with the connectors' readers", () => {
    expect(storedRecordCommunication({ platform: "gmail", resource: "messages", payload: gmail })).toEqual({
      channel: "email",
      from: "ann@x.io",
      to: ["me@example.com"],
      fromSelf: false,
    });
    expect(
      storedRecordCommunication({ platform: "calendar", resource: "events", payload: calendar }),
    ).toEqual({
      channel: "meeting",
      from: "me@example.com",
      to: ["bob@y.io"],
      fromSelf: true,
    });
  });

  it("is null for other resources, and for records that are not communication", () => {
    expect(
      storedRecordCommunication({ platform: "youtube", resource: "activities", payload: gmail }),
    ).toBeNull();
    expect(storedRecordCommunication({ platform: "gmail", resource: "labels", payload: gmail })).toBeNull();
    const draft = { ...gmail, labelIds: ["DRAFT"] };
    expect(storedRecordCommunication({ platform: "gmail", resource: "messages", payload: draft })).toBeNull();
  });

  it("gives, with the shared rules, the counterparts and direction the poller would", () => {
    const self = selfAddressesOf("Me@Example.com", "me@example.com");
    const items = [
      { externalId: "r1", payload: gmail, platform: "gmail", resource: "messages" },
      { externalId: "r2", payload: calendar, platform: "calendar", resource: "events" },
    ].map((r) => ({
      externalId: r.externalId,
      communication: storedRecordCommunication(r) ?? { channel: "email" as const, from: null, to: [] },
      occurredAt: new Date("2025-12-04T10:00:00Z"),
    }));
    expect(
      communicationCandidates(items, self).map(({ externalId, email, channel, direction }) => ({
        externalId,
        email,
        channel,
        direction,
      })),
    ).toEqual([
      { externalId: "r1", email: "ann@x.io", channel: "email", direction: "inbound" },
      { externalId: "r2", email: "bob@y.io", channel: "meeting", direction: "outbound" },
    ]);
  });
});
