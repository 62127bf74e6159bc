import { z } from "zod";
import { defineEvent } from "../define-event.ts";
import { connectionId, providerName, text, userId } from "../fields.ts";

export const tokenRefreshRequested = defineEvent({
  type: "token.refresh-requested",
  version: 1,
  description:
    "A service (usually the poller after a 401) asks the token service to refresh a connection now, ahead of its expiry. A 401 is not counted as a failure; the refresh outcome follows as token.refreshed or token.failed.",
  subjectPattern: "token.refresh-requested",
  data: z
    .object({
      connectionId,
      userId,
      provider: providerName,
      reason: text(500).describe("Why a refresh is needed, e.g. which request was rejected"),
    })
    .strict(),
  examples: [
    {
      id: "01a1fdb3-213a-7f03-a5b2-000000000301",
      type: "token.refresh-requested",
      version: 1,
      occurredAt: "2026-11-21T10:42:17.530Z",
      source: "poller",
      data: {
        connectionId: "0193a0f1-55c2-7d10-9a3e-4c2b8f1e0a01",
        userId: "0193a0f0-0b7e-7a41-8c65-2f9d3e4a5b01",
        provider: "google",
        reason: "GET gmail/v1/users/me/history returned 401 Unauthorized",
      },
    },
  ],
});
