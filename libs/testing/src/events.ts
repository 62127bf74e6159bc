import { createEvent, type EventOf } from "@syncwell/contracts";

/**
 * token.failed as the token service publishes it when the provider revoked the grant: permanent,
 * the connection now needs_reauth and is not retried until the user reconnects.
 */
export function needsReauthEvent(
  connection: { connectionId: string; userId: string; provider: string },
  source = "test",
): EventOf<"token.failed"> {
  return createEvent(
    "token.failed",
    {
      ...connection,
      classification: "permanent",
      errorCode: "invalid_grant",
      consecutiveFailures: 1,
      consecutiveTransientFailures: 0,
      previousStatus: "connected",
      status: "needs_reauth",
      retryAt: null,
    },
    { source },
  );
}
