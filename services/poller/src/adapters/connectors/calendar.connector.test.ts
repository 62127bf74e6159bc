import type { calendar_v3 } from "@googleapis/calendar";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  poll,
  rejection,
  resource,
  type SimulatorFixture,
  startSimulator,
} from "../../testing/connector-support.ts";
import { calendarConnector } from "./calendar.connector.ts";
import type { RawRecordInput } from "./connector.ts";
import { CursorExpiredError } from "./errors.ts";

const events = resource(calendarConnector, "events");

type EventPayload = {
  id: string;
  status: string;
  start?: { dateTime?: string; date?: string };
  attendees?: Array<{ email: string; self?: boolean }>;
};

let fixture: SimulatorFixture;
beforeAll(async () => {
  // 300 events: pages of 250 and 50.
  fixture = await startSimulator({ dataItems: { min: 300, max: 300 } });
});
afterAll(() => fixture.close());

function payload(record: RawRecordInput | undefined): EventPayload {
  return record?.payload as EventPayload;
}

/** The account's own address, as the calendar marks it (`self: true`). */
function selfEmail(records: RawRecordInput[]): string {
  for (const record of records) {
    const self = payload(record).attendees?.find((a) => a.self === true);
    if (self !== undefined) return self.email;
  }
  throw new Error("no event has the user as an attendee");
}

describe("calendar events: full sync", () => {
  it("lists the window page by page and keeps the last page's nextSyncToken as the cursor", async () => {
    const { ctx, http } = await fixture.connect(calendarConnector);
    const result = await poll(events, ctx, null);

    expect(result.pages.map((page) => page.records.length)).toEqual([250, 50]);
    expect(result.pages.every((page) => !page.fullListing)).toBe(true);
    expect(result.pages[0]?.nextCursor).toBeUndefined();
    expect(result.cursor).toEqual(expect.any(String));
    expect(new Set(result.records.map((r) => r.externalId)).size).toBe(300);
    const timeMin = encodeURIComponent(ctx.windowStart.toISOString());
    expect(http.requests[0]).toBe(
      `/calendar/v3/calendars/primary/events?maxResults=250&singleEvents=true&timeMin=${timeMin}`,
    );
    expect(http.requests[1]).toMatch(/&timeMin=[^&]+&pageToken=[\w-]+$/);
    for (const record of result.records) {
      const start = payload(record).start;
      expect(record.occurredAt?.getTime()).toBe(Date.parse(start?.dateTime ?? `${start?.date}T00:00:00Z`));
      expect(record.communication?.channel).toBe("meeting");
    }
  });
});

describe("calendar events: incremental", () => {
  it("syncs with the token only and gets only what changed", async () => {
    const connection = await fixture.connect(calendarConnector);
    const first = await poll(events, connection.ctx, null);
    const added = (await connection.addData("events", { count: 2 })) as EventPayload[];

    const second = await poll(events, connection.ctx, first.cursor);
    expect(connection.http.requests.at(-1)).toBe(
      `/calendar/v3/calendars/primary/events?maxResults=250&singleEvents=true&syncToken=${first.cursor}`,
    );
    expect(second.records.map((r) => r.externalId).sort()).toEqual(added.map((e) => e.id).sort());
    expect(second.cursor).not.toBe(first.cursor);

    const third = await poll(events, connection.ctx, second.cursor);
    expect(third.records).toHaveLength(0);
  });

  it("keeps a cancelled event as a record with status cancelled", async () => {
    const connection = await fixture.connect(calendarConnector);
    const first = await poll(events, connection.ctx, null);
    const victim = first.records[5]?.externalId as string;
    await connection.addData("events", { items: [{ id: victim, status: "cancelled" }] });

    const second = await poll(events, connection.ctx, first.cursor);
    expect(second.records).toHaveLength(1);
    expect(second.records[0]).toEqual({
      externalId: victim,
      payload: expect.objectContaining({ id: victim, status: "cancelled" }),
    });
  });

  it("reads organizer and attendees as communication, in any case, without rooms or the organizer twice", async () => {
    const connection = await fixture.connect(calendarConnector);
    const first = await poll(events, connection.ctx, null);
    const me = selfEmail(first.records);
    const [theirs, mine, allDay] = (await connection.addData("events", {
      items: [
        {
          organizer: '"Lee, Ann" <Ann.Lee@Example.com>',
          attendees: ['"Lee, Ann" <Ann.Lee@Example.com>', "Bob <BOB@Corp.io>"],
          start: "2030-03-04T10:00:00Z",
        },
        { organizer: me, attendees: ["carol@x.io"], start: "2030-03-05T09:30:00+02:00" },
        { organizer: me, attendees: ["dave@d.io"], start: "2030-03-06" },
      ],
    })) as EventPayload[];

    const second = await poll(events, connection.ctx, first.cursor);
    const byId = new Map(second.records.map((r) => [r.externalId, r]));
    expect(byId.get(theirs?.id as string)).toMatchObject({
      occurredAt: new Date("2030-03-04T10:00:00Z"),
      communication: {
        channel: "meeting",
        from: "Ann.Lee@Example.com",
        fromSelf: false,
        to: [me, "BOB@Corp.io"],
      },
    });
    expect(byId.get(mine?.id as string)).toMatchObject({
      occurredAt: new Date("2030-03-05T07:30:00Z"),
      communication: { channel: "meeting", from: me, fromSelf: true, to: ["carol@x.io"] },
    });
    expect(byId.get(allDay?.id as string)?.occurredAt).toEqual(new Date("2030-03-06T00:00:00Z"));
  });

  it("throws CursorExpiredError on 410 Gone, and a full sync recovers", async () => {
    const connection = await fixture.connect(calendarConnector);
    const first = await poll(events, connection.ctx, null);
    await connection.expireCursors("calendar");

    const error = await rejection(
      events.fetchPage(connection.ctx, { cursor: first.cursor, pageToken: null }),
    );
    expect(error).toBeInstanceOf(CursorExpiredError);

    const resync = await poll(events, connection.ctx, null);
    expect(resync.records.length).toBeGreaterThanOrEqual(300);
    await connection.addData("events", { count: 1 });
    expect((await poll(events, connection.ctx, resync.cursor)).records).toHaveLength(1);
  });
});

describe("calendar events: malformed payloads", () => {
  it("skips the event that has no start, naming it, and stores the rest of the page", async () => {
    const { ctx, http } = await fixture.connect(calendarConnector);
    let id = "";
    http.mutate = (_path, body) => {
      const page = body as { items: Array<Record<string, unknown>> };
      id = String(page.items[3]?.id);
      delete page.items[3]?.start;
      return page;
    };
    const page = await events.fetchPage(ctx, { cursor: null, pageToken: null });
    expect(page.records).toHaveLength(249);
    expect(page.skipped).toEqual([{ id, reason: "start: missing on an event that is not cancelled" }]);
  });

  it("rejects a last page without nextSyncToken", async () => {
    const { ctx, http } = await fixture.connect(calendarConnector);
    http.mutate = (_path, body) => {
      const { nextPageToken: _p, nextSyncToken: _s, ...rest } = body as Record<string, unknown>;
      return rest;
    };
    const error = await rejection(events.fetchPage(ctx, { cursor: null, pageToken: null }));
    expect(error).toMatchObject({ kind: "malformed" });
    expect((error as Error).message).toMatch(/nextSyncToken/);
  });
});

describe("calendar events: values Google's description allows", () => {
  /** A last page as the API may send it, typed with Google's own types. */
  async function fetchOnly(page: calendar_v3.Schema$Events) {
    const { ctx, http } = await fixture.connect(calendarConnector);
    http.mutate = () => page;
    return events.fetchPage(ctx, { cursor: null, pageToken: null });
  }

  it("reads a page without items", async () => {
    const page = await fetchOnly({ kind: "calendar#events", nextSyncToken: "sync-1" });
    expect(page).toMatchObject({ records: [], skipped: [], nextPageToken: null, nextCursor: "sync-1" });
  });

  it("stores events with a null organizer or attendee email, and skips one without an id", async () => {
    const page = await fetchOnly({
      nextSyncToken: "sync-1",
      items: [
        { id: "a", status: "confirmed", organizer: null, start: { dateTime: "2030-03-04T10:00:00Z" } },
        {
          id: "b",
          start: { dateTime: "2030-03-04T11:00:00Z" },
          organizer: { displayName: "Someone without an address" },
          attendees: [{ email: null }, { email: "Ann@Example.com", resource: null }],
        },
        { start: { dateTime: "2030-03-04T12:00:00Z" } },
      ],
    });
    expect(page.records.map((r) => [r.externalId, r.communication?.from, r.communication?.to])).toEqual([
      ["a", null, []],
      ["b", null, ["Ann@Example.com"]],
    ]);
    expect(page.skipped).toEqual([
      { id: null, reason: "id: Invalid input: expected string, received undefined" },
    ]);
  });

  it("keeps an all-day event's date in the calendar's time zone", async () => {
    const page = await fetchOnly({
      nextSyncToken: "sync-1",
      timeZone: "Pacific/Kiritimati", // UTC+14
      items: [
        { id: "kiritimati", start: { date: "2030-03-06" } },
        // An event's own zone is more precise than its calendar's.
        { id: "pago-pago", start: { date: "2030-03-06", timeZone: "Pacific/Pago_Pago" } }, // UTC-11
      ],
    });
    const at = new Map(page.records.map((r) => [r.externalId, r.occurredAt?.toISOString()]));
    expect(at.get("kiritimati")).toBe("2030-03-05T10:00:00.000Z");
    expect(at.get("pago-pago")).toBe("2030-03-06T11:00:00.000Z");
    const dateIn = (zone: string, date: Date | undefined) =>
      new Intl.DateTimeFormat("en-CA", { timeZone: zone }).format(date);
    expect(dateIn("Pacific/Kiritimati", page.records[0]?.occurredAt)).toBe("2030-03-06");
  });

  it("reads a date-time without an offset in its timeZone, else the calendar's; with an offset as given", async () => {
    const page = await fetchOnly({
      nextSyncToken: "sync-1",
      timeZone: "Europe/Paris",
      items: [
        { id: "tokyo", start: { dateTime: "2030-07-01T09:30:00", timeZone: "Asia/Tokyo" } },
        { id: "paris", start: { dateTime: "2030-07-01T09:30:00" } },
        { id: "offset", start: { dateTime: "2030-07-01T09:30:00-04:00", timeZone: "Asia/Tokyo" } },
        { id: "unknown-zone", start: { dateTime: "2030-07-01T09:30:00", timeZone: "Mars/Olympus_Mons" } },
      ],
    });
    expect(Object.fromEntries(page.records.map((r) => [r.externalId, r.occurredAt?.toISOString()]))).toEqual({
      tokyo: "2030-07-01T00:30:00.000Z",
      paris: "2030-07-01T07:30:00.000Z",
      offset: "2030-07-01T13:30:00.000Z",
      // A zone this runtime does not know reads as UTC rather than losing the meeting.
      "unknown-zone": "2030-07-01T09:30:00.000Z",
    });
    expect(page.skipped).toEqual([]);
  });
});
