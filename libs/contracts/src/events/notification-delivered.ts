import { z } from "zod";
import { defineEvent } from "../define-event.ts";
import { count, text } from "../fields.ts";
import { notificationFields } from "./notification-created.ts";

export const deliveryStatuses = ["sent", "failed", "skipped"] as const;
export type DeliveryStatus = (typeof deliveryStatuses)[number];

export const notificationDelivered = defineEvent({
  type: "notification.delivered",
  version: 1,
  description:
    "The notifier finished delivering a notification on one channel: sent, failed after its retries, or skipped (preferences, quiet hours, cooldown).",
  subjectPattern: "notification.delivered",
  data: z
    .object({
      ...notificationFields,
      status: z
        .enum(deliveryStatuses)
        .describe("sent: accepted by the channel; failed: gave up after retries; skipped: not sent by rule"),
      providerMessageId: text(200)
        .optional()
        .describe("Id the email provider gave the message (e.g. Resend's id)"),
      attempts: count.describe("Delivery attempts made; 0 when skipped"),
      error: text(1000).optional().describe("Why delivery failed or was skipped; never contains secrets"),
    })
    .strict(),
  examples: [
    {
      id: "01a1fd91-13ef-7d81-8c20-000000000701",
      type: "notification.delivered",
      version: 1,
      occurredAt: "2026-11-21T10:05:05.903Z",
      source: "notifier",
      data: {
        notificationId: "01a1fd91-0e7f-7d81-8c20-00000000aa01",
        userId: "0193a0f0-0b7e-7a41-8c65-2f9d3e4a5b03",
        kind: "connection_disconnected",
        channel: "email",
        dedupKey: "connection_disconnected:0193a0f1-55c2-7d10-9a3e-4c2b8f1e0a04:1",
        status: "sent",
        providerMessageId: "4ef9a417-02e9-4d39-ad75-9611e0fcc33c",
        attempts: 2,
      },
    },
    {
      id: "01a2005f-ad6d-7d81-8c20-000000000702",
      type: "notification.delivered",
      version: 1,
      occurredAt: "2026-11-21T23:10:00.045Z",
      source: "notifier",
      data: {
        notificationId: "01a1fd9a-4cb0-7d81-8c20-00000000aa02",
        userId: "0193a0f0-0b7e-7a41-8c65-2f9d3e4a5b01",
        kind: "health_critical",
        channel: "email",
        dedupKey: "health_critical:contact:0193a2d4-3c91-7b0e-8f55-6a7b8c9d0e01:1",
        status: "skipped",
        attempts: 0,
        error: "quiet hours (22:00-07:00 Europe/Berlin)",
      },
    },
  ],
});
