import type { BusMetrics, ConsumerDefinition } from "@syncwell/bus";
import type pg from "pg";
import type { ScoringServices } from "../engine/start-scoring.ts";
import { dataIngestedConsumer } from "./data-ingested.consumer.ts";
import { tickHealthSweepConsumer } from "./tick-health-sweep.consumer.ts";
import { tokenFailedConsumer } from "./token-failed.consumer.ts";
import { tokenRefreshedConsumer } from "./token-refreshed.consumer.ts";

/** The health-scorer's durable consumers (the catalog; each definition is in its own file). */
export function healthScorerConsumers(
  scoring: ScoringServices,
  deps: { pool: pg.Pool; metrics: BusMetrics },
): ConsumerDefinition[] {
  return [
    dataIngestedConsumer(scoring.ingest),
    tokenRefreshedConsumer(scoring.scoring),
    tokenFailedConsumer(scoring.scoring),
    tickHealthSweepConsumer(scoring.sweep, deps),
  ];
}
