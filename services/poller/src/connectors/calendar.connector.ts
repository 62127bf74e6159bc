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
 * Records carry the organizer and the attendees as communication (channel `meeting`).
 */
import { z } from "zod";
import type { Connector, Page, PollContext, RawRecordInput, SyncPosition } from "./connector.ts";
import { CursorExpiredError, malformed, PlatformError } from "./errors.ts";
import { parsePayload } from "./parse.ts";

const EVENTS = "/calendar/v3/calendars/primary/events";
const PAGE_SIZE = 250;

const person = z.object({
  email: z.string().optional(),
  self: z.boolean().optional(),
});

const when = z
  .object({ dateTime: z.iso.datetime({ offset: true }).optional(), date: z.iso.date().optional() })
  .refine((value) => value.dateTime !== undefined || value.date !== undefined, {
    message: "needs dateTime or date",
  });

/**
 * One event. A cancelled event in an incremental sync is a tombstone: only its id and status are
 * promised, so `start` is required of the others only.
 */
const eventSchema = z
  .object({
    id: z.string().min(1),
    status: z.string().optional(),
    start: when.optional(),
    organizer: person.optional(),
    attendees: z
      .array(person.extend({ organizer: z.boolean().optional(), resource: z.boolean().optional() }))
      .optional(),
  })
  .superRefine((value, ctx) => {
    if (value.status !== "cancelled" && value.start === undefined) {
      ctx.addIssue({ code: "custom", path: ["start"], message: "missing on an event that is not cancelled" });
    }
  });

const eventsBody = z.object({
  kind: z.literal("calendar#events"),
  items: z.array(eventSchema),
  nextPageToken: z.string().min(1).optional(),
  nextSyncToken: z.string().min(1).optional(),
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
  const records = page.items.map(eventRecord);
  if (page.nextPageToken !== undefined)
    return { records, nextPageToken: page.nextPageToken, fullListing: false };
  if (page.nextSyncToken === undefined) {
    throw malformed("Calendar events page", "the last page (no nextPageToken) has no nextSyncToken");
  }
  return { records, nextPageToken: null, nextCursor: page.nextSyncToken, fullListing: false };
}

function eventRecord(event: z.output<typeof eventSchema>): RawRecordInput {
  if (event.status === "cancelled" || event.start === undefined)
    return { externalId: event.id, payload: event };
  const start = event.start.dateTime ?? `${event.start.date}T00:00:00Z`;
  const organizer = event.organizer?.email?.toLowerCase();
  const to = (event.attendees ?? [])
    // Rooms and equipment are attendees too, but not people; the organizer is already `from`.
    .filter((a) => a.resource !== true && a.organizer !== true && a.email !== undefined)
    .map((a) => a.email as string)
    .filter((email) => email.toLowerCase() !== organizer);
  return {
    externalId: event.id,
    payload: event,
    occurredAt: new Date(start),
    communication: {
      channel: "meeting",
      from: event.organizer?.email ?? null,
      to,
      fromSelf: event.organizer?.self === true,
    },
  };
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
