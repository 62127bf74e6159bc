/**
 * Google Calendar API v3. `events` of the primary calendar, incremental by sync token:
 *
 * - Full sync (no cursor): `timeMin=<window start>&singleEvents=true`, paged by `nextPageToken`;
 *   the last page's `nextSyncToken` becomes the cursor. Not a full listing: events before the
 *   window are not deleted.
 * - Incremental: `syncToken=<cursor>` (Google forbids timeMin with it; singleEvents must stay the
 *   same), which also returns cancelled events: they are kept as records with `status:
 *   "cancelled"`. A 410 Gone means the token expired: `CursorExpiredError`, and a full sync.
 *
 * Records carry the organizer and the attendees as communication (channel `meeting`, read by
 * `calendarEventCommunication` of `@syncwell/communication`, which also reads stored events), and the
 * start as `occurredAt`: an all-day event's date, and a date-time without an offset, are read in
 * the event's time zone, else the calendar's (`timeZone` of the page), as domain/event-time.ts says.
 */
import { calendarEventCommunication } from "@syncwell/communication";
import { z } from "zod";
import { calendarInstant } from "../../domain/event-time.ts";
import type { Connector, Page, PollContext, RawRecordInput, SyncPosition } from "./connector.ts";
import { CursorExpiredError, malformed, PlatformError } from "./errors.ts";
import { parseItems, parsePayload } from "./parse.ts";

const EVENTS = "/calendar/v3/calendars/primary/events";
const PAGE_SIZE = 250;

// Google's generated types make nearly every field optional and nullable: so are these.
const person = z.object({
  email: z.string().nullable().optional(),
  self: z.boolean().nullable().optional(),
});

const when = z
  .object({
    dateTime: z.iso.datetime({ offset: true, local: true }).nullable().optional(),
    date: z.iso.date().nullable().optional(),
    timeZone: z.string().nullable().optional(),
  })
  .refine((value) => typeof value.dateTime === "string" || typeof value.date === "string", {
    message: "needs dateTime or date",
  });

/**
 * What the connector needs of an event: its id, and a start unless it is cancelled (a cancelled
 * event in an incremental sync is a tombstone: only its id and status are promised). An event
 * without them is skipped; the others are stored with every field Google sent.
 */
const eventSchema = z
  .object({
    id: z.string().min(1),
    status: z.string().nullable().optional(),
    start: when.nullable().optional(),
    organizer: person.nullable().optional(),
    attendees: z
      .array(
        person.extend({
          organizer: z.boolean().nullable().optional(),
          resource: z.boolean().nullable().optional(),
        }),
      )
      .nullable()
      .optional(),
  })
  .superRefine((value, ctx) => {
    if (value.status !== "cancelled" && (value.start === undefined || value.start === null)) {
      ctx.addIssue({ code: "custom", path: ["start"], message: "missing on an event that is not cancelled" });
    }
  });

/** The page: its items are checked one by one (parseItems), its tokens here. */
const eventsBody = z.object({
  items: z.array(z.unknown()).nullable().optional(),
  nextPageToken: z.string().min(1).nullable().optional(),
  nextSyncToken: z.string().min(1).nullable().optional(),
  timeZone: z.string().nullable().optional(),
});

async function fetchEvents(ctx: PollContext, position: SyncPosition): Promise<Page> {
  const incremental = position.cursor !== null;
  let body: unknown;
  try {
    ({ body } = await ctx.http.get(EVENTS, {
      query: {
        maxResults: PAGE_SIZE,
        singleEvents: "true",
        ...(incremental
          ? { syncToken: position.cursor ?? undefined }
          : { timeMin: ctx.windowStart.toISOString() }),
        pageToken: position.pageToken ?? undefined,
      },
    }));
  } catch (error) {
    if (incremental && error instanceof PlatformError && error.status === 410) {
      throw new CursorExpiredError("Calendar sync token expired", { cause: error });
    }
    throw error;
  }
  const page = parsePayload(eventsBody, body, "Calendar events page");
  const { items, skipped } = parseItems(eventSchema, page.items ?? []);
  const records: RawRecordInput[] = [];
  for (const event of items) {
    const record = eventRecord(event, page.timeZone ?? null);
    if (record === null) skipped.push({ id: event.id, reason: "start: not a date or date-time" });
    else records.push(record);
  }
  if (typeof page.nextPageToken === "string")
    return { records, skipped, nextPageToken: page.nextPageToken, fullListing: false };
  if (typeof page.nextSyncToken !== "string") {
    throw malformed("Calendar events page", "the last page (no nextPageToken) has no nextSyncToken");
  }
  return { records, skipped, nextPageToken: null, nextCursor: page.nextSyncToken, fullListing: false };
}

/** The event as a record, its start read in the calendar's time zone; null when the start is no time. */
function eventRecord(
  event: z.input<typeof eventSchema>,
  calendarTimeZone: string | null,
): RawRecordInput | null {
  if (event.status === "cancelled" || event.start === undefined || event.start === null)
    return { externalId: event.id, payload: event };
  const occurredAt = calendarInstant(event.start, calendarTimeZone);
  if (occurredAt === null) return null;
  const record: RawRecordInput = { externalId: event.id, payload: event, occurredAt };
  const communication = calendarEventCommunication(event);
  if (communication !== null) record.communication = communication;
  return record;
}

export const calendarConnector: Connector = {
  platform: "calendar",
  provider: "google",
  baseUrl: "https://www.googleapis.com",
  resources: [
    {
      name: "events",
      requiredScopes: [
        "https://www.googleapis.com/auth/calendar.readonly",
        "https://www.googleapis.com/auth/calendar",
        "https://www.googleapis.com/auth/calendar.events.readonly",
        "https://www.googleapis.com/auth/calendar.events",
      ],
      fetchPage: fetchEvents,
    },
  ],
};
