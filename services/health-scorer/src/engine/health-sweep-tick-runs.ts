import type { NatsConnection } from "@nats-io/transport-node";
import type { Naming } from "@syncwell/bus";
import type { HealthSubjectKind } from "@syncwell/contracts";
import { databaseNow, recordJobRunCounts } from "@syncwell/db";
import { Semaphore } from "@syncwell/runtime";
import type { Logger } from "@syncwell/telemetry";
import { countActiveClaims, type RunShare, TickRunCoordinator } from "@syncwell/tick-runs";
import type pg from "pg";
import { subjectKey } from "../repositories/scores.repository.ts";
import {
  claimStaleScores,
  countSweptUsers,
  findUnscored,
  markAttempted,
  releaseClaims,
  SWEEP_CLAIMS,
} from "../repositories/sweep-claims.repository.ts";
import type { BatchCounts, HealthScoring, Subject } from "./scoring.ts";

/** Core NATS subject (in no stream) on which a sweep's owner wakes the other replicas. */
export const SWEEP_WAKE_SUBJECT = "health-scorer.sweep.wake";

export type SweepSettings = {
  /** Scores claimed per statement. */
  batchSize: number;
  /** Batches scored at once by this replica. */
  lanes: number;
  /** A claim lapses after this long: longer than scoring one batch takes. */
  leaseMs: number;
  maxAgeMs: number;
  activeWindowMs: number;
};

export type SweepCounts = { users: number; refreshed: number; changed: number; errors: number };

function emptyCounts(): SweepCounts {
  return { users: 0, refreshed: 0, changed: 0, errors: 0 };
}

export type HealthSweepTickRuns = TickRunCoordinator<SweepCounts>;

type SweepDeps = {
  scoring: HealthScoring;
  settings: SweepSettings;
  engine: { readonly replicaId: string; readonly stopping: boolean };
  pool: pg.Pool;
};

/** This replica's share of a sweep: first scores of unscored subjects, then claimed stale scores. */
async function sweepShare(
  deps: SweepDeps,
  share: RunShare,
): Promise<{ counts: SweepCounts; claimed: number }> {
  const counts = emptyCounts();
  const add = async (done: { refreshed: number; changed: number; errors: number }) => {
    const delta = { refreshed: done.refreshed, changed: done.changed, errors: done.errors };
    await recordJobRunCounts(deps.pool, share.jobRunId, delta);
    counts.refreshed += delta.refreshed;
    counts.changed += delta.changed;
    counts.errors += delta.errors;
  };
  await scoreUnscored(deps, share, add);
  const claimed = await rescoreStale(deps, share, add);
  return { counts, claimed };
}

type AddCounts = (done: { refreshed: number; changed: number; errors: number }) => Promise<void>;

/**
 * Runs `lanes` copies of `lane` at once: a batch's reads and writes wait on Postgres, so one lane
 * scores while another waits. Batches never share a subject (disjoint pages, disjoint claims).
 */
async function inLanes(lanes: number, lane: () => Promise<void>): Promise<void> {
  await Promise.all(Array.from({ length: lanes }, lane));
}

/**
 * First scores of active users' subjects that have none, once per share. The pages are read in
 * key order, one page at a time (`reading`), and scored by several lanes.
 */
async function scoreUnscored(deps: SweepDeps, share: RunShare, add: AddCounts): Promise<void> {
  const { scoring, settings, engine, pool } = deps;
  const going = () => !engine.stopping && !share.signal?.aborted;
  for (const kind of ["connection", "contact", "deal"] as HealthSubjectKind[]) {
    let after: string | null = null;
    let done = false;
    const reading = new Semaphore(1);
    const nextPage = async () => {
      await reading.acquire();
      try {
        if (done) return [];
        const page = await findUnscored(pool, {
          kind,
          after,
          limit: settings.batchSize,
          activeWindowMs: settings.activeWindowMs,
        });
        if (page.length < settings.batchSize) done = true;
        after = page.at(-1)?.subjectId ?? after;
        return page;
      } finally {
        reading.release();
      }
    };
    await inLanes(settings.lanes, async () => {
      while (going()) {
        const batch = await nextPage();
        if (batch.length === 0) return;
        // Scores written are marked attempted with the write; the rest here.
        const { done, unmarked } = await scoreSwept(scoring, batch, {
          releaseClaimsOf: null,
          firstScores: true,
        });
        await markAttempted(pool, unmarked);
        await add(done);
      }
    });
  }
}

/**
 * Scores a sweep's batch with the sweep's marks written alongside each score stored (attempted,
 * and the claims of `releaseClaimsOf` released); resolves the counts and the subjects of the batch
 * left unmarked (failed, or not written), which the caller marks itself. `firstScores`: the batch
 * is of unscored subjects (BatchOptions).
 */
async function scoreSwept<S extends Subject>(
  scoring: HealthScoring,
  batch: readonly S[],
  options: {
    releaseClaimsOf: string | null;
    firstScores?: boolean;
    onError?: (subject: Subject, error: Error) => void;
  },
): Promise<{ done: BatchCounts; unmarked: S[] }> {
  const { releaseClaimsOf, firstScores, onError } = options;
  const swept = new Set<string>();
  const done = await scoring.scoreBatch(batch, {
    ...(onError && { onError }),
    ...(firstScores && { firstScores }),
    sweep: { marks: { releaseClaimsOf }, onSwept: (s) => swept.add(subjectKey(s)) },
  });
  return { done, unmarked: batch.filter((s) => !swept.has(subjectKey(s))) };
}

/**
 * Claims stale scores of active users in batches and recomputes them; resolves how many it
 * claimed. The lanes share one pass over the users in id order (`fromUserId`, moved to the last
 * user claimed); a lane that finds nothing past it looks once more from the first user, for scores
 * whose claims lapsed behind it (a replica that stopped), before it ends.
 */
async function rescoreStale(deps: SweepDeps, share: RunShare, add: AddCounts): Promise<number> {
  const { scoring, settings, engine, pool } = deps;
  let claimed = 0;
  let fromUserId: string | null = null;
  const claim = (from: string | null) =>
    claimStaleScores(pool, {
      limit: settings.batchSize,
      leaseMs: settings.leaseMs,
      claimedBy: engine.replicaId,
      maxAgeMs: settings.maxAgeMs,
      activeWindowMs: settings.activeWindowMs,
      attemptedBefore: share.startedAt,
      fromUserId: from,
    });
  await inLanes(settings.lanes, async () => {
    while (!engine.stopping && !share.signal?.aborted) {
      let batch = await claim(fromUserId);
      if (batch.length === 0 && fromUserId !== null) batch = await claim(null);
      if (batch.length === 0) return;
      // uuids as Postgres orders them: lowercase hex, compared as text.
      const last =
        batch
          .map((s) => s.userId)
          .sort()
          .at(-1) ?? null;
      if (last !== null && (fromUserId === null || last > fromUserId)) fromUserId = last;
      claimed += batch.length;
      const failed = new Map<string, string>();
      // Claims on scores written are released with the write; the rest here, with any error.
      const { done, unmarked } = await scoreSwept(scoring, batch, {
        releaseClaimsOf: engine.replicaId,
        onError: (subject, error) => failed.set(subjectKey(subject), error.message.slice(0, 500)),
      });
      await releaseClaims(
        pool,
        engine.replicaId,
        unmarked.map((s) => ({ ...s, error: failed.get(subjectKey(s)) ?? null })),
      );
      await add(done);
    }
  });
  return claimed;
}

/**
 * One `tick.health-sweep` across all replicas: each replica gives active users' subjects without a
 * score their first one, then claims stale scores of active users in batches and recomputes them, adding its counts to the job run as it goes; the owner counts the
 * run's users once no claim is left and finishes the job run. A run with errors is partial.
 */
export function healthSweepTickRuns(options: {
  scoring: HealthScoring;
  settings: SweepSettings;
  engine: { readonly replicaId: string; readonly stopping: boolean };
  pool: pg.Pool;
  nc: NatsConnection;
  naming: Naming;
  logger: Logger;
}): HealthSweepTickRuns {
  const { settings, pool } = options;
  return new TickRunCoordinator<SweepCounts>({
    ...options,
    runName: "health sweep",
    wakeSubject: SWEEP_WAKE_SUBJECT,
    emptyCounts,
    startedAt: () => databaseNow(pool, "down"),
    runShare: (share) => sweepShare(options, share),
    activeClaims: () => countActiveClaims(pool, SWEEP_CLAIMS),
    maxWaitMs: settings.leaseMs + 5_000,
    finalPass: true,
    conclude: async ({ jobRunId, totals, complete }) => {
      const startedAt = await findStart(pool, jobRunId);
      const users = startedAt ? await countSweptUsers(pool, startedAt) : 0;
      const recorded = await recordJobRunCounts(pool, jobRunId, { users });
      const errors = recorded?.errors ?? totals.errors;
      return {
        status: complete && errors === 0 ? "succeeded" : "partial",
        error: !complete
          ? "claims of other replicas were still held when the run stopped waiting"
          : errors > 0
            ? `${errors} score(s) could not be computed`
            : null,
        summary: { users },
      };
    },
  });
}

/** The run's start as the job run recorded it (every replica's attempts are since then). */
async function findStart(pool: pg.Pool, jobRunId: string): Promise<Date | null> {
  const { rows } = await pool.query<{ startedAt: Date }>(
    `SELECT started_at AS "startedAt" FROM job_runs WHERE id = $1`,
    [jobRunId],
  );
  return rows[0]?.startedAt ?? null;
}
