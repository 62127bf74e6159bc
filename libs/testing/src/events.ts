import type { Bus } from "@syncwell/bus";
import { createEvent, type EventOf, uuidv7 } from "@syncwell/contracts";
import { findJobRun, type JobRunRecord, type Queryable, startJobRun } from "@syncwell/db";
import { waitFor } from "./wait.ts";

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

/**
 * Starts a job run for `schedule` and publishes its tick, as the scheduler does; resolves to the
 * run's id (which the services report their counts to).
 */
export async function publishTick(
  deps: { db: Queryable; bus: Pick<Bus, "publish"> },
  schedule: string,
  options: { slot?: Date; source?: string } = {},
): Promise<string> {
  const jobRunId = uuidv7();
  const slot = options.slot ?? new Date();
  await startJobRun(deps.db, { id: jobRunId, schedule, slot });
  await deps.bus.publish(
    createEvent(
      "tick",
      { schedule, slot: slot.toISOString(), catchUp: false, manual: false, jobRunId },
      { source: options.source ?? "test" },
    ),
  );
  return jobRunId;
}

/** Waits until job run `jobRunId` is finished (any outcome) and resolves it. */
export async function finishedJobRun(
  db: Queryable,
  jobRunId: string,
  timeoutMs = 30_000,
): Promise<JobRunRecord> {
  return waitFor(
    async () => {
      const run = await findJobRun(db, jobRunId);
      return run?.finishedAt ? run : undefined;
    },
    `job run ${jobRunId} to finish`,
    { timeoutMs },
  );
}
