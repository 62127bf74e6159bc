import { describe, expect, it } from "vitest";
import { type ApiResponse, apiGet, startSimulator, type TestSimulator } from "../../../test-support.ts";

type Attendee = { email: string; responseStatus: string; self?: boolean; organizer?: boolean };
type CalendarEventJson = {
  id: string;
  status: string;
  summary?: string;
  start?: { dateTime?: string; date?: string };
  end?: { dateTime?: string; date?: string };
  organizer?: { email: string; self?: boolean };
  attendees?: Attendee[];
  updated?: string;
};
type Events = { kind: string; items: CalendarEventJson[]; nextPageToken?: string; nextSyncToken?: string };

function events(sim: TestSimulator, query: string): string {
  return `${sim.control.apiUrl("calendar")}/calendar/v3/calendars/primary/events?${query}`;
}

/** Follows nextPageToken to the end; returns the items and the final nextSyncToken. */
async function sync(
  sim: TestSimulator,
  token: string,
  query: string,
): Promise<{ items: CalendarEventJson[]; syncToken: string; pages: number; status: number }> {
  const items: CalendarEventJson[] = [];
  let pageToken: string | undefined;
  let pages = 0;
  for (;;) {
    const page: ApiResponse<Events> = await apiGet<Events>(
      events(sim, pageToken === undefined ? query : `${query}&pageToken=${pageToken}`),
      token,
    );
    if (page.status !== 200) return { items, syncToken: "", pages, status: page.status };
    pages += 1;
    items.push(...page.json.items);
    if (page.json.nextPageToken === undefined) {
      expect(page.json.nextSyncToken).toEqual(expect.any(String));
      return { items, syncToken: String(page.json.nextSyncToken), pages, status: 200 };
    }
    expect(page.json.nextSyncToken).toBeUndefined();
    pageToken = page.json.nextPageToken;
  }
}

describe("GET /calendar/v3/calendars/primary/events", () => {
  it("full-syncs page by page (nextSyncToken only on the last page), then syncs only the changes", async () => {
    const sim = await startSimulator({ dataItems: { min: 32, max: 32 } });
    const grant = await sim.control.createGrant({ provider: "google", connectionKey: "cal-1" });
    const full = await sync(sim, grant.accessToken, "maxResults=10");
    expect(full.pages).toBe(4);
    expect(full.items).toHaveLength(32);
    expect(new Set(full.items.map((e) => e.id)).size).toBe(32);
    const event = full.items.find((e) => (e.attendees?.length ?? 0) > 1);
    expect(event?.attendees?.filter((a) => a.self === true)).toHaveLength(1);
    expect(event?.attendees?.filter((a) => a.organizer === true)).toHaveLength(1);

    const unchanged = await sync(sim, grant.accessToken, `syncToken=${full.syncToken}`);
    expect(unchanged.items).toEqual([]);

    const target = full.items[3] as CalendarEventJson;
    const added = await sim.control.addData("calendar", "events", {
      connectionKey: "cal-1",
      count: 2,
      items: [
        {
          summary: "Deal review",
          attendees: ["Erin@Client.example", { email: "frank@client.example", responseStatus: "accepted" }],
        },
        { id: target.id, status: "cancelled" },
      ],
    });
    expect(added.items).toHaveLength(4);
    const changes = await sync(sim, grant.accessToken, `syncToken=${unchanged.syncToken}&maxResults=2`);
    expect(changes.pages).toBe(2);
    expect(changes.items.map((e) => e.id)).toEqual((added.items as CalendarEventJson[]).map((e) => e.id));
    expect(changes.items.find((e) => e.id === target.id)).toEqual(
      expect.objectContaining({ status: "cancelled" }),
    );
    const review = changes.items.find((e) => e.summary === "Deal review");
    expect(review?.attendees?.map((a) => [a.email, a.responseStatus])).toEqual([
      [expect.stringContaining("@gmail.com"), "needsAction"],
      ["Erin@Client.example", "needsAction"],
      ["frank@client.example", "accepted"],
    ]);

    // A full sync leaves cancelled events out unless asked for them.
    const again = await sync(sim, grant.accessToken, "maxResults=2500");
    expect(again.items).toHaveLength(34);
    expect((await sync(sim, grant.accessToken, "showDeleted=true")).items).toHaveLength(35);
  });

  it("keeps a full sync bounded by timeMin and refuses timeMin next to a syncToken", async () => {
    const sim = await startSimulator({ dataItems: { min: 40, max: 40 } });
    const grant = await sim.control.createGrant({ provider: "google", connectionKey: "cal-2" });
    const timeMin = new Date(sim.state.data.epoch).toISOString();
    const upcoming = await sync(sim, grant.accessToken, `timeMin=${timeMin}`);
    expect(upcoming.items.length).toBeGreaterThan(0);
    expect(upcoming.items.length).toBeLessThan(40);
    for (const e of upcoming.items) {
      expect(Date.parse(e.end?.dateTime ?? `${e.end?.date}T00:00:00Z`)).toBeGreaterThan(Date.parse(timeMin));
    }
    const clash = await apiGet(
      events(sim, `syncToken=${upcoming.syncToken}&timeMin=${timeMin}`),
      grant.accessToken,
    );
    expect(clash.status).toBe(400);
  });

  it("answers 410 fullSyncRequired to an expired or invalid sync token; a new full sync recovers", async () => {
    const sim = await startSimulator();
    const grant = await sim.control.createGrant({ provider: "google", connectionKey: "cal-3" });
    const full = await sync(sim, grant.accessToken, "");
    expect(await sim.control.expireCursors({ connectionKey: "cal-3", resource: "calendar" })).toEqual([
      "calendar.events",
    ]);
    const gone = await apiGet(events(sim, `syncToken=${full.syncToken}`), grant.accessToken);
    expect(gone.status).toBe(410);
    expect(gone.json).toEqual({
      error: {
        code: 410,
        message: "Sync token is no longer valid, a full sync is required.",
        errors: [
          {
            message: "Sync token is no longer valid, a full sync is required.",
            domain: "global",
            reason: "fullSyncRequired",
          },
        ],
      },
    });
    expect((await apiGet(events(sim, "syncToken=garbage"), grant.accessToken)).status).toBe(410);
    const recovered = await sync(sim, grant.accessToken, "");
    expect((await sync(sim, grant.accessToken, `syncToken=${recovered.syncToken}`)).status).toBe(200);
  });

  it("uses the participants set through the control API as attendees and organisers", async () => {
    const sim = await startSimulator({ dataItems: { min: 30, max: 30 } });
    const grant = await sim.control.createGrant({ provider: "google", connectionKey: "cal-4" });
    await sim.control.setParticipants({
      connectionKey: "cal-4",
      participants: ["Grace <Grace.Hopper@Navy.MIL>"],
    });
    const full = await sync(sim, grant.accessToken, "");
    const emails = new Set(
      full.items.flatMap((e) => (e.attendees ?? []).filter((a) => a.self !== true).map((a) => a.email)),
    );
    expect([...emails]).toEqual(["Grace.Hopper@Navy.MIL"]);
    const unknownCalendar = await apiGet(
      `${sim.control.apiUrl("calendar")}/calendar/v3/calendars/other@example.com/events`,
      grant.accessToken,
    );
    expect(unknownCalendar.status).toBe(404);
    expect((await apiGet(events(sim, ""), "ya29.nope")).status).toBe(401);
  });
});
