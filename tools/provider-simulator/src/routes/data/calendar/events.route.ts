import { type CalendarEvent, calendarEvents, renderEvent } from "../../../data/calendar.ts";
import type { ResourceDataset } from "../../../data/dataset.ts";
import { hashSeed } from "../../../data/seed.ts";
import { isoString } from "../../../data/time.ts";
import { dataRoute } from "../shared/endpoint.ts";
import { badRequest, type DataResponse, platformError } from "../shared/errors.ts";
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
    // Every token carries it, so a token of another account is refused.
    const accountTag = hashSeed(account.key, "calendar") % 1_000_000;
    const dataset = state.data.dataset(account, calendarEvents);

    const sync = readSyncStart(query, dataset, accountTag);
    if ("status" in sync) return sync;
    const position = readPagePosition(query, dataset, accountTag, sync);
    if ("status" in position) return position;

    // Incremental syncs always carry deletions; full syncs only when asked (showDeleted).
    const filter: EventFilter = {
      snapshot: position.snapshot,
      window: sync.window,
      showDeleted: sync.incremental || query.get("showDeleted") === "true",
      text: query.get("q")?.toLowerCase() ?? null,
    };
    const { page, more } = collectPage(dataset.changedSince(position.after), filter, maxResults);

    const body: Record<string, unknown> = {
      kind: "calendar#events",
      etag: `"${position.snapshot}${accountTag}"`,
      summary: account.profile.email,
      description: "",
      updated: isoString(dataset.items[dataset.size - 1]?.time ?? state.data.epoch),
      timeZone: "UTC",
      accessRole: "owner",
      defaultReminders: [{ method: "popup", minutes: 10 }],
    };
    const last = page[page.length - 1];
    const { snapshot } = position;
    const { min, max } = sync.window;
    if (more && last !== undefined) body.nextPageToken = encodeToken([PAGE, accountTag, last.seq, snapshot]);
    else body.nextSyncToken = encodeToken([SYNC, accountTag, snapshot, toStamp(min), toStamp(max)]);
    body.items = page.map((event) => renderEvent(account, event));
    return { status: 200, body };
  },
});

type EventsDataset = ResourceDataset<CalendarEvent>;
/** Bounds of the events a sync covers (ms; null: unbounded); updatedMin only on a full sync. */
type SyncWindow = { min: number | null; max: number | null; updatedMin: number | null };
/** Where the sync starts: after seq `from` for an incremental sync (0 for a full one), within `window`. */
type SyncStart = { incremental: boolean; from: number; window: SyncWindow };

/** 410 `fullSyncRequired`: the sync token (or the history a page of it needs) has expired. */
function fullSyncRequired(): DataResponse {
  return platformError("calendar", 410, {
    reason: "fullSyncRequired",
    message: "Sync token is no longer valid, a full sync is required.",
    googleStatus: null,
  });
}

/** The start of an incremental sync from its `syncToken`, or of a full sync from the time parameters. */
function readSyncStart(
  query: URLSearchParams,
  dataset: EventsDataset,
  accountTag: number,
): SyncStart | DataResponse {
  const syncTokenParam = query.get("syncToken");
  if (syncTokenParam === null) {
    const min = parseTime(query.get("timeMin"));
    const max = parseTime(query.get("timeMax"));
    const updatedMin = parseTime(query.get("updatedMin"));
    if (min === undefined || max === undefined || updatedMin === undefined) {
      return platformError("calendar", 400, { reason: "badRequest", message: "Bad Request" });
    }
    return { incremental: false, from: 0, window: { min, max, updatedMin } };
  }
  const clash = NOT_WITH_SYNC_TOKEN.find((name) => query.has(name));
  if (clash !== undefined)
    return badRequest("calendar", `The parameter ${clash} cannot be used with syncToken.`);
  const token = decodeToken(syncTokenParam, 5);
  if (token === null || token[0] !== SYNC || token[1] !== accountTag || !dataset.isLive(token[2] as number))
    return fullSyncRequired();
  const window = { min: fromStamp(token[3] as number), max: fromStamp(token[4] as number), updatedMin: null };
  return { incremental: true, from: token[2] as number, window };
}

/**
 * Where this page starts (`after` a seq) and the snapshot its sync is pinned to: from the
 * `pageToken`, or the sync's start and the dataset's latest change on a first page.
 */
function readPagePosition(
  query: URLSearchParams,
  dataset: EventsDataset,
  accountTag: number,
  sync: SyncStart,
): { after: number; snapshot: number } | DataResponse {
  const pageTokenParam = query.get("pageToken");
  if (pageTokenParam === null) return { after: sync.from, snapshot: dataset.seq };
  const token = decodeToken(pageTokenParam, 4);
  if (token === null || token[0] !== PAGE || token[1] !== accountTag) {
    return platformError("calendar", 400, { reason: "invalid", message: "Invalid page token value" });
  }
  const snapshot = token[3] as number;
  if (sync.incremental && !dataset.isLive(snapshot)) return fullSyncRequired();
  return { after: token[2] as number, snapshot };
}

type EventFilter = {
  /** Changes after this seq belong to the next sync. */
  snapshot: number;
  window: SyncWindow;
  showDeleted: boolean;
  /** The lower-cased `q`, matched against the summary. */
  text: string | null;
};

function matches(event: CalendarEvent, { snapshot, window, showDeleted, text }: EventFilter): boolean {
  if (event.seq > snapshot) return false;
  if (event.status === "cancelled") return showDeleted;
  if (window.min !== null && event.end <= window.min) return false;
  if (window.max !== null && event.start >= window.max) return false;
  if (window.updatedMin !== null && event.time < window.updatedMin) return false;
  return text === null || event.summary.toLowerCase().includes(text);
}

/** The first `maxResults` matching events, and whether another matching one follows. */
function collectPage(
  changes: Iterable<CalendarEvent>,
  filter: EventFilter,
  maxResults: number,
): { page: CalendarEvent[]; more: boolean } {
  const page: CalendarEvent[] = [];
  for (const event of changes) {
    if (!matches(event, filter)) continue;
    if (page.length === maxResults) return { page, more: true };
    page.push(event);
  }
  return { page, more: false };
}

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
