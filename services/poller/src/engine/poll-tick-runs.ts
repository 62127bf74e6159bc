import type { NatsConnection } from "@nats-io/transport-node";
import type { Naming } from "@syncwell/bus";
import { databaseNow, recordJobRunCounts } from "@syncwell/db";
import type { Logger } from "@syncwell/telemetry";
import { countActiveClaims, TickRunCoordinator } from "@syncwell/tick-runs";
import type pg from "pg";
import { countWaitingForToken } from "../repositories/poll-claims.repository.ts";
import type { PollEngine } from "./poll-engine.ts";
import { emptyCounts, type PollCounts } from "./settings.ts";

/** Core NATS subject (in no stream) on which a tick's owner wakes the other replicas. */
export const WAKE_SUBJECT = "poller.run.wake";

/** A poll tick's summary: the counts, and due resources left to wait for a refreshed token. */
export type PollTickRuns = TickRunCoordinator<PollCounts, { waitingForToken: number; skipped: number }>;

/**
 * One `tick.poll` across all replicas: every replica runs the same lanes, splitting the due sync
 * states, and the owner finishes the job run. Due resources whose connection has no usable token
 * are left to wait for `token.refreshed`, counted as skipped; a failed poll makes the run partial.
 */
export function pollTickRuns(options: {
  engine: PollEngine;
  pool: pg.Pool;
  nc: NatsConnection;
  naming: Naming;
  logger: Logger;
}): PollTickRuns {
  const { engine, pool } = options;
  return new TickRunCoordinator({
    ...options,
    runName: "poll run",
    wakeSubject: WAKE_SUBJECT,
    emptyCounts,
    startedAt: () => databaseNow(pool, "up"),
    runShare: async ({ jobRunId, startedAt }) => ({
      counts: await engine.run({ jobRunId, startedAt }),
      claimed: 0,
    }),
    activeClaims: () => countActiveClaims(pool, { table: "sync_states", claimedUntil: "claimed_until" }),
    maxWaitMs: engine.settings.leaseMs + engine.settings.requestTimeoutMs + 5_000,
    startFields: () => ({ platforms: [...new Set(engine.resources.map((r) => r.platform))] }),
    conclude: async ({ jobRunId, totals, complete }) => {
      const waiting = await countWaitingForToken(pool, {
        resourceKeys: engine.resourceKeys,
        minValidityMs: engine.settings.minTokenValidityMs,
      });
      const recorded = await recordJobRunCounts(pool, jobRunId, {
        skipped: waiting.resources,
        waiting_for_token: waiting.resources,
      });
      const failed = recorded?.failed ?? totals.failed;
      return {
        status: complete && failed === 0 ? "succeeded" : "partial",
        error: !complete
          ? "claims of other replicas were still held when the run stopped waiting"
          : failed > 0
            ? `${failed} resource poll(s) failed`
            : null,
        summary: { skipped: totals.skipped + waiting.resources, waitingForToken: waiting.resources },
      };
    },
  });
}
