// Shared by the tests of linking stored communication: a Google connection and the records the
// poller would have stored for it (Gmail `messages.get?format=metadata` answers, Calendar
// `events.list` items, as Google sends them). Not imported by production code.
import { createHash, randomUUID } from "node:crypto";
import type { Queryable } from "@syncwell/db";

export const DAY_MS = 86_400_000;

/** A Google connection of the user; `account` is its provider account id (the Gmail address). */
export async function createGoogleConnection(
  db: Queryable,
  userId: string,
  account: string,
): Promise<string> {
  const id = randomUUID();
  await db.query(
    `INSERT INTO connections (id, user_id, provider, provider_account_id, status, access_token_expires_at, last_synced_at)
     VALUES ($1, $2, 'google', $3, 'connected', now() + interval '1 hour', now())`,
    [id, userId, account],
  );
  return id;
}

export type StoredRecordOptions = {
  /** Stored without a time (`occurred_at` null), as the poller stores a message of unknown date. */
  timeless?: boolean;
  deleted?: boolean;
};

/** Stores a record as the poller does: payload as-is, content hash, occurred_at; its row id. */
export async function storeRecord(
  db: Queryable,
  connectionId: string,
  record: {
    platform: string;
    resource: string;
    externalId: string;
    payload: unknown;
    occurredAt: Date | null;
  },
): Promise<string> {
  const id = randomUUID();
  const json = JSON.stringify(record.payload);
  await db.query(
    `INSERT INTO raw_records (id, connection_id, platform, resource, external_id, payload, content_hash, occurred_at)
     VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)`,
    [
      id,
      connectionId,
      record.platform,
      record.resource,
      record.externalId,
      json,
      createHash("sha256").update(json).digest("hex").slice(0, 16),
      record.occurredAt,
    ],
  );
  return id;
}

export type MessageFields = {
  from: string;
  to: string[];
  cc?: string[];
  labelIds?: string[];
  subject?: string;
  daysAgo: number;
};

/** A Gmail message as `messages.get?format=metadata` answers it. */
export function gmailMessage(id: string, fields: MessageFields): Record<string, unknown> {
  const at = new Date(Date.now() - fields.daysAgo * DAY_MS);
  const headers = [
    { name: "From", value: fields.from },
    { name: "To", value: fields.to.join(", ") },
    ...(fields.cc ? [{ name: "Cc", value: fields.cc.join(", ") }] : []),
    { name: "Subject", value: fields.subject ?? "Contract" },
    { name: "Date", value: at.toUTCString() },
  ];
  return {
    id,
    threadId: id,
    labelIds: fields.labelIds ?? ["INBOX", "CATEGORY_PERSONAL"],
    snippet: "Here is the signed contract, see you on Thursday",
    sizeEstimate: 5123,
    historyId: "4812345",
    internalDate: String(at.getTime()),
    payload: { partId: "", mimeType: "multipart/alternative", filename: "", headers },
  };
}

export async function storeMessage(
  db: Queryable,
  connectionId: string,
  fields: MessageFields & StoredRecordOptions,
): Promise<string> {
  const externalId = randomUUID().replaceAll("-", "").slice(0, 16);
  const payload = gmailMessage(externalId, fields);
  const occurredAt = fields.timeless ? null : new Date(Number(payload.internalDate));
  const id = await storeRecord(db, connectionId, {
    platform: "gmail",
    resource: "messages",
    externalId,
    payload,
    occurredAt,
  });
  if (fields.deleted) await db.query("UPDATE raw_records SET deleted_at = now() WHERE id = $1", [id]);
  return id;
}

export type EventFields = {
  organizer: string;
  organizerIsSelf?: boolean;
  attendees: string[];
  status?: string;
  daysAgo: number;
};

/** A Calendar event as `events.list` gives it, with a meeting room among the attendees. */
export function calendarEvent(id: string, fields: EventFields): Record<string, unknown> {
  const start = new Date(Date.now() - fields.daysAgo * DAY_MS);
  const end = new Date(start.getTime() + 3_600_000);
  return {
    kind: "calendar#event",
    etag: '"3461234567890000"',
    id,
    status: fields.status ?? "confirmed",
    htmlLink: `https://www.google.com/calendar/event?eid=${id}`,
    created: new Date(start.getTime() - 7 * DAY_MS).toISOString(),
    updated: new Date(start.getTime() - 7 * DAY_MS).toISOString(),
    summary: "Quarterly review",
    creator: { email: fields.organizer },
    organizer: { email: fields.organizer, ...(fields.organizerIsSelf ? { self: true } : {}) },
    start: { dateTime: start.toISOString(), timeZone: "Europe/Paris" },
    end: { dateTime: end.toISOString(), timeZone: "Europe/Paris" },
    iCalUID: `${id}@google.com`,
    sequence: 0,
    attendees: [
      { email: fields.organizer, organizer: true, responseStatus: "accepted" },
      ...fields.attendees.map((email) => ({ email, responseStatus: "accepted" })),
      {
        email: "c_1889kq0v8hq4@resource.calendar.google.com",
        displayName: "Room 4.01",
        resource: true,
        responseStatus: "accepted",
      },
    ],
    reminders: { useDefault: true },
    eventType: "default",
  };
}

export async function storeEvent(db: Queryable, connectionId: string, fields: EventFields): Promise<string> {
  const externalId = randomUUID().replaceAll("-", "");
  const payload = calendarEvent(externalId, fields);
  const start = payload.start as { dateTime: string };
  // The poller stores a cancelled event without a time: it did not take place.
  const occurredAt = fields.status === "cancelled" ? null : new Date(start.dateTime);
  return storeRecord(db, connectionId, {
    platform: "calendar",
    resource: "events",
    externalId,
    payload,
    occurredAt,
  });
}
