import { type AnyEvent, createEvent } from "@syncwell/contracts";
import type { Logger } from "@syncwell/telemetry";
import type { ProviderRuntime } from "../domain/providers.ts";
import type { RefreshFailure } from "../domain/refresh-outcome.ts";
import { EVENT_SOURCE } from "./outcome-writer.ts";

/**
 * The `operator.alert` for a provider that rejected Syncwell's client configuration (it goes to the
 * outbox with the failure), logged as an error naming the variables to check, never their values.
 */
export function providerMisconfiguredAlert(
  provider: ProviderRuntime,
  errorCode: string,
  failure: RefreshFailure,
  replicaId: string,
  logger: Logger,
): AnyEvent {
  const name = provider.spec.displayName;
  const variables = `PROVIDER_${provider.id.toUpperCase().replaceAll("-", "_")}_CLIENT_ID / _CLIENT_SECRET / _TOKEN_URL`;
  const message = `${name} rejected Syncwell's client configuration (${errorCode}). Check ${variables}. Refreshes to ${name} are held on this replica until the configuration changes (restart with corrected settings); users are not disconnected.`;
  logger.error(
    {
      provider: provider.id,
      errorCode,
      httpStatus: failure.status,
      errorDescription: failure.errorDescription,
      tokenUrl: provider.tokenUrl,
      replica: replicaId,
    },
    "operator alert: provider rejected the client configuration; refreshes held",
  );
  return createEvent(
    "operator.alert",
    {
      severity: "critical",
      code: "provider_misconfigured",
      provider: provider.id,
      message,
      details: {
        errorCode,
        httpStatus: failure.status ?? null,
        tokenUrl: provider.tokenUrl,
        replica: replicaId,
        heldSince: new Date().toISOString(),
      },
    },
    { source: EVENT_SOURCE },
  );
}
