import { type Logger, type RepeatedFailureLog, repeatedFailureLog } from "@syncwell/telemetry";
import type pg from "pg";
import { renewClaims } from "../repositories/refresh-claims.repository.ts";

export type ClaimLeasesOptions = {
  pool: pg.Pool;
  /** This replica's `refresh_claimed_by`. */
  claimedBy: string;
  leaseMs: number;
  logger: Logger;
};

/**
 * The claims this replica holds (claimed, queued, in flight or being written), each with the
 * moment its lease lapses by the local clock. A heartbeat renews them every third of a lease, so a
 * claim never lapses while this replica lives, however long its row waits for the writer.
 */
export class ClaimLeases {
  private readonly options: ClaimLeasesOptions;
  /** Connection id → when its claim lapses (epoch ms, local clock). */
  private readonly lapsesAt = new Map<string, number>();
  private readonly heartbeat: NodeJS.Timeout;
  private renewing = false;
  private readonly renewFailures: RepeatedFailureLog;

  constructor(options: ClaimLeasesOptions) {
    this.options = options;
    this.renewFailures = repeatedFailureLog(options.logger, "renewing refresh claims", {
      level: "warn",
      next: "they lapse unless renewed in time",
    });
    this.heartbeat = setInterval(() => void this.renew(), Math.max(500, Math.floor(options.leaseMs / 3)));
    this.heartbeat.unref();
  }

  get size(): number {
    return this.lapsesAt.size;
  }

  /** A claim taken now or a moment ago, lapsing at `lapsesAt` unless renewed. */
  hold(connectionId: string, lapsesAt: number): void {
    this.lapsesAt.set(connectionId, lapsesAt);
  }

  /** When the claim on `connectionId` lapses, if this replica holds one. */
  lapseOf(connectionId: string): number | undefined {
    return this.lapsesAt.get(connectionId);
  }

  /** The claim ended (its outcome was written, or given up): it is no longer renewed. */
  drop(connectionId: string): void {
    this.lapsesAt.delete(connectionId);
  }

  /** Ends the heartbeat (the engine has stopped). */
  stop(): void {
    clearInterval(this.heartbeat);
  }

  private async renew(): Promise<void> {
    if (this.renewing || this.lapsesAt.size === 0) return;
    this.renewing = true;
    const { leaseMs } = this.options;
    const started = Date.now();
    try {
      const renewed = await renewClaims(this.options.pool, {
        ids: [...this.lapsesAt.keys()],
        claimedBy: this.options.claimedBy,
        leaseMs,
      });
      // A claim dropped while the renewal was out stays dropped.
      for (const id of renewed) if (this.lapsesAt.has(id)) this.lapsesAt.set(id, started + leaseMs);
      this.renewFailures.succeeded();
    } catch (err) {
      this.renewFailures.failed(err, { claims: this.lapsesAt.size });
    } finally {
      this.renewing = false;
    }
  }
}
