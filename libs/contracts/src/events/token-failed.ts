import { z } from "zod";
import { defineEvent } from "../define-event.ts";
import {
  code,
  connectionId,
  connectionStatus,
  count,
  isoDateTime,
  jobRunId,
  providerName,
  text,
  userId,
} from "../fields.ts";

export const failureClassifications = ["permanent", "transient", "operator"] as const;
export type FailureClassification = (typeof failureClassifications)[number];

export const tokenFailed = defineEvent({
  type: "token.failed",
  version: 1,
  description:
    "A token refresh failed. Carries the classification, the failure counters after this attempt, the connection's new status and when it will be retried. Never carries a token.",
  subjectPattern: "token.failed",
  data: z
    .object({
      connectionId,
      userId,
      provider: providerName,
      classification: z
        .enum(failureClassifications)
        .describe(
          "permanent: the user's grant is gone (invalid_grant, revoked), they must reconnect; transient: 429, 5xx, timeout or network, retried; operator: Syncwell's own client is misconfigured (invalid_client, unauthorized_client), the operator is alerted and the user is not disconnected",
        ),
      errorCode: code.describe(
        "OAuth error code or a synthetic one, e.g. invalid_grant, http_503, timeout, network",
      ),
      errorDescription: text(500)
        .optional()
        .describe("Provider's error_description or a short explanation; never contains a token or secret"),
      consecutiveFailures: count.describe("Failed refreshes in a row, this one included"),
      consecutiveTransientFailures: count.describe(
        "Transient failures in a row, this one included if transient",
      ),
      previousStatus: connectionStatus.describe("Connection status before this attempt"),
      status: connectionStatus.describe("Connection status after this attempt"),
      retryAt: isoDateTime
        .nullable()
        .describe(
          "When the next refresh will be attempted (Retry-After honoured, with jitter); null when it will not be retried until the user reconnects",
        ),
      jobRunId,
    })
    .strict(),
  examples: [
    {
      id: "01a1fd91-0c1e-7b55-9c01-000000000201",
      type: "token.failed",
      version: 1,
      occurredAt: "2026-11-21T10:05:03.902Z",
      source: "token-service",
      data: {
        connectionId: "0193a0f1-55c2-7d10-9a3e-4c2b8f1e0a03",
        userId: "0193a0f0-0b7e-7a41-8c65-2f9d3e4a5b02",
        provider: "github",
        classification: "transient",
        errorCode: "http_503",
        errorDescription: "Service Unavailable",
        consecutiveFailures: 2,
        consecutiveTransientFailures: 2,
        previousStatus: "connected",
        status: "warning",
        retryAt: "2026-11-21T10:07:41.000Z",
        jobRunId: "01a1fd90-fcea-7000-8000-0000000000a1",
      },
    },
    {
      id: "01a1fd91-0cf5-7b55-9c01-000000000202",
      type: "token.failed",
      version: 1,
      occurredAt: "2026-11-21T10:05:04.117Z",
      source: "token-service",
      data: {
        connectionId: "0193a0f1-55c2-7d10-9a3e-4c2b8f1e0a04",
        userId: "0193a0f0-0b7e-7a41-8c65-2f9d3e4a5b03",
        provider: "google",
        classification: "permanent",
        errorCode: "invalid_grant",
        errorDescription: "Token has been expired or revoked.",
        consecutiveFailures: 1,
        consecutiveTransientFailures: 0,
        previousStatus: "connected",
        status: "needs_reauth",
        retryAt: null,
        jobRunId: "01a1fd90-fcea-7000-8000-0000000000a1",
      },
    },
  ],
});
