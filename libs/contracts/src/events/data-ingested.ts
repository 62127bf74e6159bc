import { z } from "zod";
import { defineEvent } from "../define-event.ts";
import { connectionId, count, isoDateTime, jobRunId, providerName, userId } from "../fields.ts";

export const dataIngested = defineEvent({
  type: "data.ingested",
  version: 1,
  description:
    "The poller finished pulling one resource of a connection: how many records were added, updated, unchanged or deleted, and the cursor the next run starts from.",
  subjectPattern: "data.ingested",
  data: z
    .object({
      connectionId,
      userId,
      provider: providerName,
      resource: z
        .string()
        .max(64)
        .regex(
          /^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*$/,
          "dot-separated lowercase names, e.g. gmail.messages",
        )
        .describe("Resource that was polled, e.g. gmail.messages, calendar.events, spotify.recently-played"),
      counts: z
        .object({
          added: count.describe("Records seen for the first time"),
          updated: count.describe("Known records whose content changed"),
          unchanged: count.describe("Known records with the same content hash"),
          deleted: count.describe("Records the platform reported as deleted"),
          skipped: count
            .optional()
            .describe(
              "Items the platform sent that the poller could not use (no id, no usable time) and left out; absent when none",
            ),
        })
        .strict()
        .describe("Record counts of this run"),
      cursor: z
        .string()
        .max(2048)
        .nullable()
        .describe(
          "Cursor the next run resumes from (Gmail historyId, Calendar syncToken, Spotify `after`, ETag, page token); null when the resource has none",
        ),
      window: z
        .object({
          from: isoDateTime.describe("Start of the polled time window (inclusive)"),
          to: isoDateTime.describe("End of the polled time window (exclusive)"),
        })
        .strict()
        .optional()
        .describe("Time window queried, for resources polled by time rather than by cursor"),
      communicationEventsCreated: count.describe(
        "Communication events created from messages or meetings involving a known contact",
      ),
      fullSync: z
        .boolean()
        .describe(
          "True when the run started from scratch (first sync, or the cursor was expired or rejected)",
        ),
      jobRunId,
    })
    .strict(),
  examples: [
    {
      id: "01a1fd9a-4ace-7a12-8d3e-000000000401",
      type: "data.ingested",
      version: 1,
      occurredAt: "2026-11-21T10:15:09.774Z",
      source: "poller",
      data: {
        connectionId: "0193a0f1-55c2-7d10-9a3e-4c2b8f1e0a01",
        userId: "0193a0f0-0b7e-7a41-8c65-2f9d3e4a5b01",
        provider: "google",
        resource: "gmail.messages",
        counts: { added: 14, updated: 3, unchanged: 0, deleted: 1 },
        cursor: "9876543",
        communicationEventsCreated: 6,
        fullSync: false,
        jobRunId: "01a1fd9a-24a4-7000-8000-0000000000b2",
      },
    },
    {
      id: "01a1fd9a-4fb8-7a12-8d3e-000000000402",
      type: "data.ingested",
      version: 1,
      occurredAt: "2026-11-21T10:15:11.032Z",
      source: "poller",
      data: {
        connectionId: "0193a0f1-55c2-7d10-9a3e-4c2b8f1e0a02",
        userId: "0193a0f0-0b7e-7a41-8c65-2f9d3e4a5b01",
        provider: "spotify",
        resource: "spotify.recently-played",
        counts: { added: 22, updated: 0, unchanged: 0, deleted: 0 },
        cursor: "1795255811000",
        window: { from: "2026-11-21T09:15:00.000Z", to: "2026-11-21T10:15:00.000Z" },
        communicationEventsCreated: 0,
        fullSync: false,
      },
    },
  ],
});
