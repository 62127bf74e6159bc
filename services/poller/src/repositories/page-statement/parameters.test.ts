import { describe, expect, it } from "vitest";
import { type PageWrite, zeroTotals } from "../records.repository.ts";
import { PAYLOAD_SEPARATOR, pageJson, pageStatementValues } from "./parameters.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function page(over: Partial<PageWrite> = {}): PageWrite {
  return {
    ref: { connectionId: "conn-1", platform: "gmail", resource: "messages" },
    claimToken: "replica/7",
    userId: "user-1",
    records: [],
    communications: [],
    before: { ...zeroTotals(), added: 3 },
    skipped: 1,
    fullListing: true,
    pollStartedAt: new Date("2026-01-02T03:04:05.678Z"),
    next: { pageToken: "page-2", leaseMs: 30_000 },
    done: null,
    ...over,
  };
}

describe("page statement parameters", () => {
  it("gives a page as the `pages` part reads it, the event's payload and trace spliced in as sent", () => {
    const middle = JSON.parse(pageJson(page(), 4));
    expect(middle).toEqual({
      k: 4,
      connection_id: "conn-1",
      platform: "gmail",
      resource: "messages",
      claim: "replica/7",
      user_id: "user-1",
      final: false,
      full_listing: true,
      poll_started_at: "2026-01-02T03:04:05.678Z",
      page_token: "page-2",
      lease_ms: 30_000,
      cursor: null,
      next_poll_ms: null,
      before: { ...zeroTotals(), added: 3 },
      skipped: 1,
      event_id: null,
      subject: null,
      type: null,
      payload: null,
      trace: null,
    });
    const event = {
      id: "e-1",
      subject: "data.ingested",
      type: "data.ingested",
      payload: '{"b": 2,  "a": 1}',
      traceHeaders: "{}",
    };
    const last = pageJson(page({ next: null, done: { cursor: "c9", nextPollInMs: 60_000, event } }), 0);
    expect(last.endsWith(',"payload":{"b": 2,  "a": 1},"trace":{}}')).toBe(true);
    expect(JSON.parse(last)).toMatchObject({
      final: true,
      page_token: null,
      lease_ms: null,
      cursor: "c9",
      next_poll_ms: 60_000,
      event_id: "e-1",
      subject: "data.ingested",
      type: "data.ingested",
    });
  });

  it("sends records as columns and their payloads as one text, communication events only when asked", () => {
    const records = [
      { externalId: "a", payloadJson: '{"n":1}', occurredAt: new Date(1_000) },
      { externalId: 'b"', payloadJson: "[]", occurredAt: null },
    ];
    const communications = [
      {
        id: "0199c1d2-0000-7000-8000-000000000001",
        externalId: "a",
        email: "friend@example.com",
        channel: "email" as const,
        direction: "inbound" as const,
        occurredAt: new Date(2_000),
      },
    ];
    const values = pageStatementValues([page(), page({ records, communications })], {
      final: false,
      gone: false,
      comms: true,
    });
    expect(values).toHaveLength(13);
    expect(JSON.parse(values[0] as string).map((p: { k: number }) => p.k)).toEqual([0, 1]);
    expect(values[1]).toBe("{1,1}");
    const ids = (values[2] as string).slice(1, -1).split(",");
    expect(ids).toHaveLength(2);
    for (const id of ids) expect(id).toMatch(UUID);
    expect(values.slice(3, 6)).toEqual(['{"a","b\\""}', "{1000,NULL}", `{"n":1}${PAYLOAD_SEPARATOR}[]`]);
    expect(values.slice(6)).toEqual([
      "{1}",
      "{0199c1d2-0000-7000-8000-000000000001}",
      '{"a"}',
      '{"friend@example.com"}',
      "{email}",
      "{inbound}",
      "{2000}",
    ]);

    const withoutRecords = pageStatementValues([page()], { final: false, gone: false, comms: false });
    expect(withoutRecords).toHaveLength(6);
    // string_to_array('') would be one empty payload, not none.
    expect(withoutRecords[5]).toBeNull();
  });

  it("refuses a payload holding the separator: it would shift every later payload onto the wrong record", () => {
    const records = [{ externalId: "x", payloadJson: `"a${PAYLOAD_SEPARATOR}b"`, occurredAt: null }];
    expect(() =>
      pageStatementValues([page({ records })], { final: false, gone: false, comms: false }),
    ).toThrow("record x: its payload text holds a raw U+001E, so it is not JSON");
  });
});
