import type { Connector } from "../adapters/connectors/connector.ts";
import type { IntervalMap } from "../domain/schedule.ts";

/** How the engine polls (from the service configuration; tests build it directly). */
export type PollSettings = {
  defaultIntervalMs: number;
  intervals: IntervalMap;
  /** Tokens expiring sooner than this are not used; the resource waits for token.refreshed. */
  minTokenValidityMs: number;
  /** Polls in flight per replica, all platforms. */
  concurrency: number;
  requestTimeoutMs: number;
  leaseMs: number;
  /** Rows per claim round trip. */
  batchSize: number;
  maxPagesPerPoll: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** After a 401, how long a resource waits for the refreshed token. */
  unauthorizedDelayMs: number;
  /** A run also takes work that becomes due within this long after it started. */
  runHorizonMs: number;
  firstSyncWindowMs: number;
};

/** One platform as the engine runs it: its connector, where its API is, and its limits. */
export type PlatformRuntime = {
  connector: Connector;
  baseUrl: string;
  /** Requests per second across all replicas, and the burst the bucket allows. */
  rateLimit: { perSec: number; burst: number };
  /** Polls in flight per replica. */
  concurrency: number;
};

/** Counts the engine reports (to the job run and in its summaries). */
export type PollCounts = {
  connections: number;
  polled: number;
  failed: number;
  skipped: number;
  records_added: number;
  records_updated: number;
  records_unchanged: number;
  records_deleted: number;
  communication_events: number;
  /** Items a connector could not use and left out of their page (the page and the poll went on). */
  items_skipped: number;
  refresh_requested: number;
  rate_limited: number;
};

export function emptyCounts(): PollCounts {
  return {
    connections: 0,
    polled: 0,
    failed: 0,
    skipped: 0,
    records_added: 0,
    records_updated: 0,
    records_unchanged: 0,
    records_deleted: 0,
    communication_events: 0,
    items_skipped: 0,
    refresh_requested: 0,
    rate_limited: 0,
  };
}

export function addCounts(into: PollCounts, from: Partial<PollCounts>): void {
  for (const [key, value] of Object.entries(from) as [keyof PollCounts, number | undefined][]) {
    if (value) into[key] += value;
  }
}
