import { type CalendarEvent, calendarEvents, renderEvent } from "../../../data/calendar.ts";
import { hashSeed } from "../../../data/seed.ts";
import { isoString } from "../../../data/time.ts";
import { dataRoute } from "../shared/endpoint.ts";
import { badRequest, platformError } from "../shared/errors.ts";
import { decodeToken, encodeToken, intParam } from "../shared/paging.ts";

const CALENDAR = "https://www.googleapis.com/auth/calendar";
/** Query parameters Google refuses next to a syncToken (the token already fixes the query). */
const NOT_WITH_SYNC_TOKEN = ["timeMin", "timeMax", "orderBy", "q", "updatedMin", "iCalUID"] as const;
const SYNC = 1;
const PAGE = 2;

/**
 * `GET /calendar/v3/calendars/{calendarId}/events?syncToken=&pageToken=&maxResults=&timeMin=…` —
 * Google's sync protocol. A full sync (optionally limited by timeMin/timeMax) pages with
 * `nextPageToken` and ends with `nextSyncToken`; a request with that `syncToken` returns only the
 * events changed since, cancelled ones included (as tombstones), again ending with a new
 * `nextSyncToken`. A token the server no longer honours answers 410 `fullSyncRequired`.
 * Pages are pinned to a snapshot: changes made while a client pages arrive in its next sync.
 */
export const calendarEventsRoute = dataRoute({
  platform: "calendar",
  resource: calendarEvents.name,
  url: "/calendar/calendar/v3/calendars/:calendarId/events",
  scopes: [CALENDAR, `${CALENDAR}.readonly`, `${CALENDAR}.events`, `${CALENDAR}.events.readonly`],
  handle({ query, params, state, account }) {
    const calendarId = params.calendarId ?? "";
    if (calendarId !== "primary" && calendarId.toLowerCase() !== account.profile.email) {
      return platformError("calendar", 404, { message: "Not Found" });
    }
    const maxResults = intParam(query, { name: "maxResults", default: 250, min: 1, max: 2500, clamp: true });
    if (maxResults === null) return badRequest("calendar", "Invalid value for maxResults");
    const tag = hashSeed(account.key, "calendar") % 1_000_000;
    const dataset = state.data.dataset(account, calendarEvents);
    const gone = () =>
      platformError("calendar", 410, {
        reason: "fullSyncRequired",
        message: "Sync token is no longer valid, a full sync is required.",
        googleStatus: null,
      });

    const syncTokenParam = query.get("syncToken");
    let window: { min: number | null; max: number | null; updatedMin: number | null };
    let from = 0;
    if (syncTokenParam !== null) {
      const clash = NOT_WITH_SYNC_TOKEN.find((name) => query.has(name));
      if (clash !== undefined)
        return badRequest("calendar", `The parameter ${clash} cannot be used with syncToken.`);
      const token = decodeToken(syncTokenParam, 5);
      if (token === null || token[0] !== SYNC || token[1] !== tag || !dataset.isLive(token[2] as number))
        return gone();
      from = token[2] as number;
      window = { min: fromStamp(token[3] as number), max: fromStamp(token[4] as number), updatedMin: null };
    } else {
      const min = parseTime(query.get("timeMin"));
      const max = parseTime(query.get("timeMax"));
      const updatedMin = parseTime(query.get("updatedMin"));
      if (min === undefined || max === undefined || updatedMin === undefined) {
        return platformError("calendar", 400, { reason: "badRequest", message: "Bad Request" });
      }
      window = { min, max, updatedMin };
    }

    let snapshot = dataset.seq;
    let after = from;
    const pageTokenParam = query.get("pageToken");
    if (pageTokenParam !== null) {
      const token = decodeToken(pageTokenParam, 4);
      if (token === null || token[0] !== PAGE || token[1] !== tag) {
        return platformError("calendar", 400, { reason: "invalid", message: "Invalid page token value" });
      }
      after = token[2] as number;
      snapshot = token[3] as number;
      if (syncTokenParam !== null && !dataset.isLive(snapshot)) return gone();
    }

    // Incremental syncs always carry deletions; full syncs only when asked (showDeleted).
    const showDeleted = syncTokenParam !== null || query.get("showDeleted") === "true";
    const q = query.get("q")?.toLowerCase() ?? null;
    const wanted = (event: CalendarEvent): boolean => {
      if (event.seq > snapshot) return false;
      if (event.status === "cancelled") return showDeleted;
      if (window.min !== null && event.end <= window.min) return false;
      if (window.max !== null && event.start >= window.max) return false;
      if (window.updatedMin !== null && event.time < window.updatedMin) return false;
      return q === null || event.summary.toLowerCase().includes(q);
    };
    const page: CalendarEvent[] = [];
    let more = false;
    for (const event of dataset.changedSince(after)) {
      if (!wanted(event)) continue;
      if (page.length === maxResults) {
        more = true;
        break;
      }
      page.push(event);
    }

    const body: Record<string, unknown> = {
      kind: "calendar#events",
      etag: `"${snapshot}${tag}"`,
      summary: account.profile.email,
      description: "",
      updated: isoString(dataset.items[dataset.size - 1]?.time ?? state.data.epoch),
      timeZone: "UTC",
      accessRole: "owner",
      defaultReminders: [{ method: "popup", minutes: 10 }],
    };
    const last = page[page.length - 1];
    if (more && last !== undefined) body.nextPageToken = encodeToken([PAGE, tag, last.seq, snapshot]);
    else body.nextSyncToken = encodeToken([SYNC, tag, snapshot, toStamp(window.min), toStamp(window.max)]);
    body.items = page.map((event) => renderEvent(account, event));
    return { status: 200, body };
  },
});

/** RFC 3339 with an offset, as Google requires; null when absent, undefined when invalid. */
function parseTime(value: string | null): number | null | undefined {
  if (value === null || value === "") return null;
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/i.test(value)) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

/** Window bounds inside a sync token: seconds + 1, 0 for none. */
function toStamp(ms: number | null): number {
  return ms === null ? 0 : Math.floor(ms / 1000) + 1;
}

function fromStamp(stamp: number): number | null {
  return stamp === 0 ? null : (stamp - 1) * 1000;
}
