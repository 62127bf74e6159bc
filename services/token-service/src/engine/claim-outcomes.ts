import type { ProviderRuntime } from "../domain/providers.ts";
import type { ClaimedConnection } from "../repositories/refresh-claims.repository.ts";
import type { ClaimLeases } from "./claim-leases.ts";
import type { OutcomeWriter, WriteItem } from "./outcome-writer.ts";
import { type RunState, trackInRun } from "./run-state.ts";

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** An outcome as the engine builds it; the claim, provider and job run are added on submit. */
export type ClaimOutcome = DistributiveOmit<WriteItem, "claim" | "provider" | "jobRunId">;
export type SuccessOutcome = Extract<ClaimOutcome, { kind: "success" }>;

/**
 * Where every claim of this replica ends: its outcome goes to the group-commit writer, is counted
 * in the run it belongs to, and the claim leaves the leases once written or given up.
 */
export class ClaimOutcomes {
  private readonly writer: OutcomeWriter;
  private readonly leases: ClaimLeases;

  constructor(writer: OutcomeWriter, leases: ClaimLeases) {
    this.writer = writer;
    this.leases = leases;
  }

  /** Outcomes queued or being written. */
  get pending(): number {
    return this.writer.pending;
  }

  /** Resolves true once written, false when the writer gave up (it has logged why). */
  submit(
    run: RunState | undefined,
    provider: ProviderRuntime,
    claim: ClaimedConnection,
    outcome: ClaimOutcome,
  ): Promise<boolean> {
    return this.writer
      .submit({ ...outcome, claim, provider, jobRunId: run?.jobRunId } as WriteItem)
      .then((written) => {
        if (run && written !== "released" && written !== "deferred") {
          run.counts.checked += 1;
          run.counts[written] += 1;
        }
        return true;
      })
      .catch(() => {
        // The claim lapses and a later run retries the connection.
        return false;
      })
      .finally(() => {
        this.leases.drop(claim.id);
      });
  }

  /**
   * Hands a claimed connection back unattempted, for another attempt in this or the next run
   * (counted as nothing); the run waits for the release to be written.
   */
  handBack(run: RunState, provider: ProviderRuntime, claim: ClaimedConnection, reason: string): void {
    trackInRun(run, this.submit(run, provider, claim, { kind: "release", reason, requeue: true }));
  }
}
