import { describe, expect, it } from "vitest";
import { gmailMessageCommunication } from "./gmail-message.ts";

/** A `messages.get?format=metadata` answer, as Gmail sends it and the poller stores it. */
function message(labelIds: string[], headers: Array<{ name: string; value: string }>): unknown {
  return {
    id: "18c9a7e5d2f41b03",
    threadId: "18c9a7e5d2f41b03",
    labelIds,
    snippet: "Here is the signed contract",
    sizeEstimate: 5123,
    historyId: "4812345",
    internalDate: "1764928800000",
    payload: { partId: "", mimeType: "multipart/alternative", filename: "", headers },
  };
}

const headers = [
  { name: "From", value: '"Smith, Alice" <Alice.Smith@Example.com>' },
  { name: "To", value: 'Bob Jones <BOB@Corp.io>, "Doe, Jane (Ops)" <jane@ops.example>' },
  { name: "Cc", value: "carol@x.io" },
  { name: "Subject", value: "Contract" },
  { name: "Date", value: "Fri, 5 Dec 2025 10:00:00 +0000" },
];

describe("gmailMessageCommunication", () => {
  it("reads From, To and Cc with quoted names, in the platform's case", () => {
    expect(gmailMessageCommunication(message(["INBOX", "UNREAD", "CATEGORY_PERSONAL"], headers))).toEqual({
      channel: "email",
      from: "Alice.Smith@Example.com",
      to: ["BOB@Corp.io", "jane@ops.example", "carol@x.io"],
      fromSelf: false,
    });
  });

  it("marks mail labelled SENT as from the user, and reads header names in any case and repeated", () => {
    const sent = message(
      ["SENT"],
      [
        { name: "from", value: "me@example.com" },
        { name: "TO", value: "dave@d.io" },
        { name: "To", value: "Erin <erin@e.io>" },
      ],
    );
    expect(gmailMessageCommunication(sent)).toEqual({
      channel: "email",
      from: "me@example.com",
      to: ["dave@d.io", "erin@e.io"],
      fromSelf: true,
    });
  });

  it("is null for a draft and for spam: stored, but not communication", () => {
    expect(gmailMessageCommunication(message(["DRAFT"], headers))).toBeNull();
    expect(gmailMessageCommunication(message(["SPAM", "UNREAD"], headers))).toBeNull();
  });

  it("involves nobody when the message has no headers, and reads odd shapes leniently", () => {
    expect(gmailMessageCommunication({ id: "m1" })).toEqual({
      channel: "email",
      from: null,
      to: [],
      fromSelf: false,
    });
    expect(
      gmailMessageCommunication({
        id: "m2",
        labelIds: null,
        payload: { headers: [{ name: null, value: "x@y.io" }, { name: "From", value: 7 }, "To", null] },
      }),
    ).toEqual({ channel: "email", from: null, to: [], fromSelf: false });
    expect(gmailMessageCommunication(null)).toEqual({
      channel: "email",
      from: null,
      to: [],
      fromSelf: false,
    });
  });
});
