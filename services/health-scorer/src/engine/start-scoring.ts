import type { ServiceContext } from "@syncwell/service";
import { newReplicaId } from "@syncwell/tick-runs";
import { type Config, scoringSettings } from "../config.ts";
import {
  type HealthSweepTickRuns,
  healthSweepTickRuns,
  type SweepSettings,
} from "./health-sweep-tick-runs.ts";
import { IngestBatches } from "./ingest-batches.ts";
import { HealthScoring } from "./scoring.ts";

/** Scores claimed per sweep statement, and batches scored at once (sized by bench:health, docs/decisions/0017). */
const SWEEP_BATCH_SIZE = 400;
const SWEEP_LANES = 3;
/** A sweep claim's lease: far longer than scoring one batch takes. */
const SWEEP_LEASE_MS = 60_000;
/** data.ingested batches: sized by bench:health (docs/decisions/0017). */
const INGEST_BATCH = { maxBatch: 256, lingerMs: 10, maxConcurrent: 4, maxScoreWrite: 500 };
/** Far longer than a poller's page transaction lasts (a page is one statement). */
const INGEST_MARK_OVERLAP_MS = 5 * 60_000;

export type ScoringServices = {
  scoring: HealthScoring;
  ingest: IngestBatches;
  sweep: HealthSweepTickRuns;
  stop: () => Promise<void>;
};

/**
 * The scoring side of the service: the scorer the consumers call, the batches data.ingested is
 * applied in, and the sweep coordinator listening for other replicas' wake-ups. Stopped before
 * the bus on shutdown.
 */
export function startScoring(ctx: ServiceContext<Config>): ScoringServices {
  const logger = ctx.logger.child({ component: "health-scoring" });
  const scoring = new HealthScoring(ctx.pool, scoringSettings(ctx.config), logger);
  const engine = { replicaId: newReplicaId(), stopping: false };
  const settings: SweepSettings = {
    batchSize: SWEEP_BATCH_SIZE,
    lanes: SWEEP_LANES,
    leaseMs: SWEEP_LEASE_MS,
    maxAgeMs: ctx.config.HEALTH_SCORE_MAX_AGE,
    activeWindowMs: ctx.config.HEALTH_ACTIVE_USER_WINDOW,
  };
  const sweep = healthSweepTickRuns({
    scoring,
    settings,
    engine,
    pool: ctx.pool,
    nc: ctx.bus.nc,
    naming: ctx.bus.naming,
    logger,
  });
  sweep.start();
  const ingest = new IngestBatches(scoring, ctx.pool, logger, {
    ...INGEST_BATCH,
    markOverlapMs: INGEST_MARK_OVERLAP_MS,
    noMarkSinceMs: ctx.config.HEALTH_SCORE_MAX_AGE,
  });
  const stop = async () => {
    engine.stopping = true;
    await sweep.stop();
    await ingest.drain();
  };
  return { scoring, ingest, sweep, stop };
}
