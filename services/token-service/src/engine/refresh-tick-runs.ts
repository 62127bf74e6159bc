import type { NatsConnection } from "@nats-io/transport-node";
import type { Naming } from "@syncwell/bus";
import { databaseNow, findJobRun, recordJobRunCounts } from "@syncwell/db";
import type { Logger } from "@syncwell/telemetry";
import { countActiveClaims, TickRunCoordinator } from "@syncwell/tick-runs";
import type pg from "pg";
import { countDueFor } from "../repositories/refresh-claims.repository.ts";
import type { RefreshEngine, RunCounts } from "./refresh-engine.ts";

/** Core NATS subject (not captured by any stream) on which a tick's owner wakes the other replicas. */
export const WAKE_SUBJECT = "token-service.refresh.wake";

/** A refresh tick's summary: the counts, and due connections of disabled or held providers. */
export type RefreshTickRuns = TickRunCoordinator<RunCounts, { notRefreshable: number }>;

/**
 * One refresh tick across all replicas: every replica runs the same claim loop, splitting the due
 * connections, and the owner finishes the job run. A claim can also end by release (a replica that
 * stops releases its queued rows), so the run ends only after a last pass finds nothing to claim.
 * Due connections of disabled or held providers are counted as skipped.
 */
export function refreshTickRuns(options: {
  engine: RefreshEngine;
  pool: pg.Pool;
  nc: NatsConnection;
  naming: Naming;
  logger: Logger;
}): RefreshTickRuns {
  const { engine, pool } = options;
  return new TickRunCoordinator({
    ...options,
    runName: "token refresh run",
    wakeSubject: WAKE_SUBJECT,
    emptyCounts: () => ({ checked: 0, refreshed: 0, failed: 0, skipped: 0 }),
    // A redelivered tick continues its run: what any replica attempted since the run started is
    // not attempted (nor counted) again.
    startedAt: async (jobRunId) =>
      (await findJobRun(pool, jobRunId))?.startedAt ?? (await databaseNow(pool, "down")),
    runShare: ({ jobRunId, startedAt, logger, signal }) =>
      engine.runBatch({ jobRunId, attemptedBefore: startedAt, logger, signal }),
    activeClaims: () =>
      countActiveClaims(pool, { table: "connections", claimedUntil: "refresh_claimed_until" }),
    finalPass: true,
    maxWaitMs: engine.settings.leaseMs * 3 + engine.settings.sendTimeoutMs + engine.settings.answerTimeoutMs,
    startFields: () => ({
      providers: engine.activeProviders().map((p) => p.id),
      leadMs: engine.settings.leadMs,
    }),
    conclude: async ({ jobRunId, complete }) => {
      const inactive = engine.inactiveProviders().map((p) => p.id);
      const notRefreshable = await countDueFor(pool, inactive, engine.settings.leadMs);
      if (notRefreshable > 0) {
        await recordJobRunCounts(pool, jobRunId, { checked: notRefreshable, skipped: notRefreshable });
      }
      return {
        status: complete ? "succeeded" : "partial",
        error: complete ? null : "claims of other replicas were still running when the run gave up waiting",
        summary: { notRefreshable },
        logFields: { inactiveProviders: inactive },
      };
    },
  });
}
