import type { calendar_v3 } from "@googleapis/calendar";
import { z } from "zod";
import { type Account, type ParticipantRef, parseParticipant, resolveParticipant, SELF } from "./account.ts";
import type { DataItem, ResourceSpec } from "./dataset.ts";
import { addressSchema } from "./gmail.ts";
import { BASE32HEX, DAY, HOUR, MINUTE, type Rng, timeline } from "./seed.ts";
import { isoString } from "./time.ts";
import { TOPICS } from "./words.ts";

export const responseStatuses = ["needsAction", "declined", "tentative", "accepted"] as const;
type ResponseStatus = (typeof responseStatuses)[number];
type EventStatus = "confirmed" | "tentative" | "cancelled";

type Attendee = { ref: ParticipantRef; response: ResponseStatus; optional?: boolean };

/**
 * Generated attendees are packed into one number, `(ref + 1) * 4 + response`: an object per
 * attendee was half of a cached calendar's memory. Explicit ones (from the control API) stay objects.
 */
type StoredAttendee = number | Attendee;

function packAttendee(ref: number, response: ResponseStatus): number {
  return (ref + 1) * 4 + responseStatuses.indexOf(response);
}

function unpackAttendee(stored: StoredAttendee): Attendee {
  if (typeof stored !== "number") return stored;
  return { ref: Math.floor(stored / 4) - 1, response: responseStatuses[stored % 4] as ResponseStatus };
}

/** An event; `time` is its `updated` instant (each change moves it and gets a new seq). */
export type CalendarEvent = DataItem & {
  created: number;
  start: number;
  end: number;
  allDay: boolean;
  summary: string;
  location: string | null;
  status: EventStatus;
  organizer: ParticipantRef;
  attendees: readonly StoredAttendee[];
  sequence: number;
};

const dateTime = z.union([z.iso.datetime({ offset: true }), z.iso.date()]);

const attendeeInput = z.union([
  addressSchema,
  z.strictObject({
    email: addressSchema,
    displayName: z.string().min(1).optional(),
    responseStatus: z.enum(responseStatuses).optional(),
    optional: z.boolean().optional(),
  }),
]);

const eventInput = z.strictObject({
  /** An existing event's id changes that event (e.g. `{"id": "…", "status": "cancelled"}`). */
  id: z
    .string()
    .regex(/^[a-v0-9]{5,1024}$/, "must be base32hex (a-v, 0-9)")
    .optional(),
  summary: z.string().max(1024).optional(),
  location: z.string().max(1024).nullable().optional(),
  /** RFC 3339 date-time, or a date for an all-day event. */
  start: dateTime.optional(),
  end: dateTime.optional(),
  status: z.enum(["confirmed", "tentative", "cancelled"]).optional(),
  organizer: addressSchema.optional(),
  /** Addresses (any case) or `{email, displayName?, responseStatus?, optional?}`; the account is added as an attendee. */
  attendees: z.array(attendeeInput).max(200).optional(),
});
type EventInput = z.output<typeof eventInput>;

const SUMMARIES = [
  (topic: string) => `Weekly sync: ${topic}`,
  (topic: string) => `Review ${topic}`,
  (topic: string) => `Planning ${topic}`,
  () => "Coffee chat",
  () => "Customer call",
  () => "1:1",
  () => "Team standup",
] as const;

function workSlot(rng: Rng, dayStart: number): { start: number; end: number } {
  const start = dayStart + (8 + rng.int(10)) * HOUR + (rng.chance(0.5) ? 30 * MINUTE : 0);
  return { start, end: start + rng.pick([30, 45, 60, 90]) * MINUTE };
}

function startOfDay(ms: number): number {
  return Math.floor(ms / DAY) * DAY;
}

function generatedEvent(
  account: Account,
  rng: Rng,
  created: number,
  around: number,
): Omit<CalendarEvent, "seq"> {
  const contact = (): ParticipantRef => rng.int(account.profile.contacts.length);
  const day = startOfDay(around) + (rng.int(61) - 30) * DAY;
  const allDay = rng.chance(0.08);
  const slot = allDay ? { start: day, end: day + DAY } : workSlot(rng, day);
  const solo = rng.chance(0.07);
  const organizer = solo || rng.chance(0.4) ? SELF : contact();
  const attendees: number[] = [];
  if (!solo) {
    const others = new Set<number>();
    if (organizer !== SELF) others.add(organizer as number);
    const wanted = rng.between(1, 4);
    for (let i = 0; i < 20 && others.size < wanted; i += 1) others.add(contact() as number);
    attendees.push(
      packAttendee(SELF as number, organizer === SELF ? "accepted" : rng.pick(responseStatuses)),
    );
    for (const ref of others) {
      attendees.push(packAttendee(ref, ref === organizer ? "accepted" : rng.pick(responseStatuses)));
    }
  }
  return {
    id: rng.string(BASE32HEX, 26),
    time: created,
    created,
    start: slot.start,
    end: slot.end,
    allDay,
    summary: solo ? rng.pick(["Focus time", "Gym", "Dentist"]) : rng.pick(SUMMARIES)(rng.pick(TOPICS)),
    location: rng.chance(0.3) ? rng.pick(["Room 4.01", "Berlin office", "Café Central"]) : null,
    status: rng.chance(0.1) ? "tentative" : "confirmed",
    organizer,
    attendees,
    sequence: 0,
  };
}

function parseTime(value: string): { ms: number; allDay: boolean } {
  return /^\d{4}-\d{2}-\d{2}$/.test(value)
    ? { ms: Date.parse(`${value}T00:00:00Z`), allDay: true }
    : { ms: Date.parse(value), allDay: false };
}

/** The account always attends its own calendar's events; listing it explicitly sets its response. */
function attendeesFrom(input: NonNullable<EventInput["attendees"]>, selfEmail: string): Attendee[] {
  const isSelf = (address: string): boolean =>
    parseParticipant(address)?.email.toLowerCase() === selfEmail.toLowerCase();
  const out: Attendee[] = [];
  if (!input.some((entry) => isSelf(typeof entry === "string" ? entry : entry.email))) {
    out.push({ ref: SELF, response: "needsAction" });
  }
  for (const entry of input) {
    if (typeof entry === "string") {
      out.push({ ref: entry, response: "needsAction" });
      continue;
    }
    const ref =
      entry.displayName === undefined
        ? entry.email
        : `${entry.displayName} <${parseParticipant(entry.email)?.email ?? entry.email}>`;
    const attendee: Attendee = { ref, response: entry.responseStatus ?? "needsAction" };
    if (entry.optional !== undefined) attendee.optional = entry.optional;
    out.push(attendee);
  }
  return out;
}

/** Applies the given fields of an input to an event (new or existing). */
function applyInput(
  account: Account,
  event: Omit<CalendarEvent, "seq">,
  input: EventInput,
): Omit<CalendarEvent, "seq"> {
  const next = { ...event };
  if (input.summary !== undefined) next.summary = input.summary;
  if (input.location !== undefined) next.location = input.location;
  if (input.status !== undefined) next.status = input.status;
  if (input.organizer !== undefined) next.organizer = input.organizer;
  if (input.attendees !== undefined) next.attendees = attendeesFrom(input.attendees, account.profile.email);
  if (input.start !== undefined) {
    const start = parseTime(input.start);
    const length = next.end - next.start;
    next.start = start.ms;
    next.allDay = start.allDay;
    next.end = start.ms + (start.allDay ? DAY : length);
  }
  if (input.end !== undefined) next.end = parseTime(input.end).ms;
  return next;
}

export const calendarEvents: ResourceSpec<CalendarEvent, EventInput> = {
  name: "calendar.events",
  platform: "calendar",
  input: eventInput,
  expirable: true,
  seed({ account, rng, epoch }, count) {
    return timeline(rng, count, epoch - 3 * MINUTE, 20 * MINUTE, 2 * DAY).map((created) =>
      generatedEvent(account, rng, created, epoch),
    );
  },
  create({ account, rng }, input, at) {
    // A new meeting lands in the coming two weeks; an explicit one wherever it says.
    const event = generatedEvent(account, rng, at, at + 16 * DAY);
    const fresh = {
      ...event,
      start: Math.max(event.start, at + HOUR),
      end: Math.max(event.end, at + 2 * HOUR),
    };
    if (input.id !== undefined) fresh.id = input.id;
    return applyInput(account, fresh, input);
  },
  update({ account }, existing, input, at) {
    const { seq: _seq, ...event } = existing;
    return { ...applyInput(account, event, input), time: at, sequence: existing.sequence + 1 };
  },
  render(account, event) {
    return renderEvent(account, event);
  },
};

function stamp(ms: number, allDay: boolean): calendar_v3.Schema$EventDateTime {
  return allDay
    ? { date: isoString(ms).slice(0, 10) }
    : { dateTime: isoString(ms).replace(".000Z", "Z"), timeZone: "UTC" };
}

/**
 * A `calendar#event`, typed with Google's generated types (types only) so tsc holds it to them;
 * a cancelled one is the tombstone incremental syncs carry.
 */
export function renderEvent(account: Account, event: CalendarEvent): calendar_v3.Schema$Event {
  const etag = `"${event.time * 1000 + event.sequence}"`;
  if (event.status === "cancelled")
    return { kind: "calendar#event", etag, id: event.id, status: "cancelled" };
  const self = account.profile.email;
  const organizer = resolveParticipant(account, event.organizer);
  const selfEmail = self.toLowerCase();
  const organizerEmail = organizer.email.toLowerCase();
  const organizerIsSelf = organizerEmail === selfEmail;
  const person = (email: string, name: string | null, isSelf: boolean): calendar_v3.Schema$EventAttendee => {
    const entry: calendar_v3.Schema$EventAttendee = { email };
    if (name !== null && !isSelf) entry.displayName = name;
    if (isSelf) entry.self = true;
    return entry;
  };
  const out: calendar_v3.Schema$Event = {
    kind: "calendar#event",
    etag,
    id: event.id,
    status: event.status,
    htmlLink: `https://www.google.com/calendar/event?eid=${Buffer.from(`${event.id} ${self}`).toString("base64url")}`,
    created: isoString(event.created),
    updated: isoString(event.time),
    summary: event.summary,
  };
  if (event.location !== null) out.location = event.location;
  // As `person` writes an attendee: a display name for others, `self` for the account.
  const organizerPerson: NonNullable<calendar_v3.Schema$Event["organizer"]> = organizerIsSelf
    ? { email: organizer.email, self: true }
    : { email: organizer.email, ...(organizer.name === null ? {} : { displayName: organizer.name }) };
  out.creator = organizerPerson;
  out.organizer = organizerPerson;
  out.start = stamp(event.start, event.allDay);
  out.end = stamp(event.end, event.allDay);
  out.iCalUID = `${event.id}@google.com`;
  out.sequence = event.sequence;
  if (event.attendees.length > 0) {
    out.attendees = event.attendees.map((stored) => {
      const a = unpackAttendee(stored);
      const p = resolveParticipant(account, a.ref);
      const email = p.email.toLowerCase();
      const isSelf = a.ref === SELF || email === selfEmail;
      const entry = person(p.email, p.name, isSelf);
      if (email === organizerEmail) entry.organizer = true;
      if (a.optional === true) entry.optional = true;
      entry.responseStatus = a.response;
      return entry;
    });
  }
  out.reminders = { useDefault: true };
  out.eventType = "default";
  return out;
}
