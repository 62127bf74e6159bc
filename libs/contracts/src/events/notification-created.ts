import { z } from "zod";
import { defineEvent } from "../define-event.ts";
import { text, userId } from "../fields.ts";

export const notificationChannels = ["in_app", "email"] as const;
export type NotificationChannel = (typeof notificationChannels)[number];

/** Fields shared by notification.created and notification.delivered. */
export const notificationFields = {
  notificationId: z.uuid().describe("Notification id; also the email provider's Idempotency-Key"),
  userId: userId.describe("Recipient"),
  kind: z
    .string()
    .max(64)
    .regex(/^[a-z][a-z0-9_]*$/, "lowercase letters, digits and underscores")
    .describe(
      "What the notification is about, e.g. connection_warning, connection_disconnected, rate_limited, health_critical, weekly_digest",
    ),
  channel: z.enum(notificationChannels).describe("Where it is delivered"),
  dedupKey: text(200).describe(
    "One notification per episode: a second notification with the same key is not created, e.g. connection_disconnected:<connectionId>:<episode>",
  ),
};

export const notificationCreated = defineEvent({
  type: "notification.created",
  version: 1,
  description:
    "The notifier decided to tell a user something and stored the notification (in-app) or queued it (email).",
  subjectPattern: "notification.created",
  data: z.object(notificationFields).strict(),
  examples: [
    {
      id: "01a1fd91-0e80-7d81-8c20-000000000601",
      type: "notification.created",
      version: 1,
      occurredAt: "2026-11-21T10:05:04.512Z",
      source: "notifier",
      data: {
        notificationId: "01a1fd91-0e7f-7d81-8c20-00000000aa01",
        userId: "0193a0f0-0b7e-7a41-8c65-2f9d3e4a5b03",
        kind: "connection_disconnected",
        channel: "email",
        dedupKey: "connection_disconnected:0193a0f1-55c2-7d10-9a3e-4c2b8f1e0a04:1",
      },
    },
  ],
});
