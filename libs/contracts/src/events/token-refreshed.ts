import { z } from "zod";
import { defineEvent } from "../define-event.ts";
import { connectionId, connectionStatus, isoDateTime, jobRunId, providerName, userId } from "../fields.ts";

export const tokenRefreshed = defineEvent({
  type: "token.refreshed",
  version: 1,
  description:
    "The token service refreshed a connection's access token. Never carries a token. `recovered` marks a success after failures, so the notifier can resolve earlier warnings and the poller can resume.",
  subjectPattern: "token.refreshed",
  data: z
    .object({
      connectionId,
      userId,
      provider: providerName,
      expiresAt: isoDateTime
        .nullable()
        .describe(
          "When the new access token expires; null when the provider issues tokens that never expire",
        ),
      refreshTokenRotated: z
        .boolean()
        .describe("True when the provider returned a new refresh token (stored in place of the old one)"),
      recovered: z.boolean().describe("True when this success follows one or more failed refreshes"),
      previousStatus: connectionStatus.describe("Connection status before this refresh"),
      jobRunId,
    })
    .strict(),
  examples: [
    {
      id: "01a1fd91-0691-7c3d-8e4f-000000000101",
      type: "token.refreshed",
      version: 1,
      occurredAt: "2026-11-21T10:05:02.481Z",
      source: "token-service",
      data: {
        connectionId: "0193a0f1-55c2-7d10-9a3e-4c2b8f1e0a01",
        userId: "0193a0f0-0b7e-7a41-8c65-2f9d3e4a5b01",
        provider: "google",
        expiresAt: "2026-11-21T11:05:01.000Z",
        refreshTokenRotated: false,
        recovered: false,
        previousStatus: "connected",
        jobRunId: "01a1fd90-fcea-7000-8000-0000000000a1",
      },
    },
    {
      id: "01a1fda7-f058-7e21-b3a0-000000000102",
      type: "token.refreshed",
      version: 1,
      occurredAt: "2026-11-21T10:30:04.120Z",
      source: "token-service",
      data: {
        connectionId: "0193a0f1-55c2-7d10-9a3e-4c2b8f1e0a02",
        userId: "0193a0f0-0b7e-7a41-8c65-2f9d3e4a5b01",
        provider: "spotify",
        expiresAt: "2026-11-21T11:30:03.000Z",
        refreshTokenRotated: true,
        recovered: true,
        previousStatus: "warning",
      },
    },
  ],
});
