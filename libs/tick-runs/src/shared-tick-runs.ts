import { setTimeout as sleep } from "node:timers/promises";
import type { NatsConnection } from "@nats-io/transport-node";
import { type Naming, RetryLaterError } from "@syncwell/bus";
import type { Logger } from "pino";
import { type ReplicaWakeups, startReplicaWakeups, type WakeUp } from "./replica-wakeup.ts";

/** What a service tells SharedTickRuns about its runs. */
export type SharedTickRunsOptions = {
  nc: NatsConnection;
  naming: Naming;
  logger: Logger;
  /** Relative core NATS subject (in no stream) on which a tick's owner wakes the other replicas. */
  wakeSubject: string;
  /**
   * The service's engine, which runs this replica's share of each run. A replica that is stopping
   * joins nothing and hands back the tick it owns.
   */
  engine: { readonly replicaId: string; readonly stopping: boolean };
  /** What logs and errors call one run, e.g. `poll run`. */
  runName: string;
  /** Runs this replica's share of a run another replica owns; resolves to what to log about it. */
  join: (wake: WakeUp, logger: Logger) => Promise<object>;
};

export type ActiveClaims = {
  /** Claims any replica holds now. */
  count: number;
  /** When the first of them lapses (database time). */
  firstExpiry: Date | null;
};

export type WaitForPeerClaimsOptions = {
  activeClaims: () => Promise<ActiveClaims>;
  /** Runs this replica's loop again: it claims what is due, including claims that lapsed. */
  runAgain: () => Promise<void>;
  /**
   * Called when no claim is left; resolves true when the run is done (the default), false to look
   * at the claims again (it found more work and ran it).
   */
  finalPass?: () => Promise<boolean>;
  /** The owner gives up waiting after this long: the run is incomplete. */
  maxWaitMs: number;
  /** Longest wait between two looks at the claims (default 500 ms). */
  pollIntervalMs?: number | undefined;
  /** The tick run's deadline (the handler's signal): aborting it stops the wait with its reason. */
  signal?: AbortSignal | undefined;
};

/**
 * Shortest wait between two looks at the claims; the owner also waits this long past the end of the
 * first lease to lapse, so that its claim is free to take.
 */
const MIN_WAIT_MS = 50;

/**
 * One tick across all replicas. The durable consumer hands a tick to one replica (the owner), but
 * the work should not stay there: the owner wakes the others over core NATS (see
 * startReplicaWakeups), and every replica runs the same claim loop, splitting the due rows through
 * `FOR UPDATE SKIP LOCKED`. A lost wake-up costs only speed: the owner does all the work alone.
 *
 * The owner's handler runs until the run is complete: after its own loop it waits for the claims
 * other replicas still hold (renewed while they live), and takes over those of a replica that died
 * by running its loop again once their lease lapses. Every replica adds its counts to the job run
 * as it writes its outcomes, so when no claim is left the owner can finish the job run with
 * complete counts. Claims still held at the deadline make the run partial; an owner that is
 * shutting down hands the tick back to the bus rather than leaving it half done.
 */
export class SharedTickRuns {
  private readonly options: SharedTickRunsOptions;
  private wakeups: ReplicaWakeups | undefined;

  constructor(options: SharedTickRunsOptions) {
    this.options = options;
  }

  /** Listens for other replicas' wake-ups. */
  start(): void {
    if (this.wakeups) return;
    const { nc, naming, logger, wakeSubject, engine } = this.options;
    this.wakeups = startReplicaWakeups({
      nc,
      naming,
      logger,
      subject: wakeSubject,
      replicaId: engine.replicaId,
      isStopping: () => engine.stopping,
      join: (wake) => this.joinRun(wake),
    });
  }

  /** Tells the other replicas to join run `jobRunId` (started at `startedAt`, database time). */
  wake(jobRunId: string, startedAt: Date): void {
    this.wakeups?.wake(jobRunId, startedAt);
  }

  /**
   * The owner's wait once its own loop is done: looks at the claims other replicas hold until none
   * is left (and `finalPass` agrees), running its loop again as their leases lapse. Resolves whether
   * the run completed (false: claims were still held after `maxWaitMs`); throws RetryLaterError when
   * this replica is stopping, so another one finishes the tick.
   */
  async waitForPeerClaims(options: WaitForPeerClaimsOptions): Promise<boolean> {
    const { engine, runName } = this.options;
    const deadline = Date.now() + options.maxWaitMs;
    let complete = true;
    while (!engine.stopping) {
      options.signal?.throwIfAborted();
      const active = await options.activeClaims();
      if (active.count === 0) {
        if (!options.finalPass || (await options.finalPass())) break;
        continue;
      }
      if (Date.now() > deadline) {
        complete = false;
        break;
      }
      const untilLapse = active.firstExpiry ? active.firstExpiry.getTime() - Date.now() + MIN_WAIT_MS : 0;
      await sleep(Math.max(MIN_WAIT_MS, Math.min(options.pollIntervalMs ?? 500, untilLapse)));
      await options.runAgain();
    }
    if (engine.stopping) throw new RetryLaterError(`replica stopping during a ${runName}`, 0);
    return complete;
  }

  /** Stops listening and waits for the runs this replica joined. */
  async stop(): Promise<void> {
    await this.wakeups?.stop();
    this.wakeups = undefined;
  }

  private async joinRun(wake: WakeUp): Promise<void> {
    const logger = this.options.logger.child({ jobRunId: wake.jobRunId });
    try {
      const result = await this.options.join(wake, logger);
      logger.info({ ...result, owner: wake.from }, `helped with a ${this.options.runName}`);
    } catch (err) {
      // Nothing to hand back: the owner takes over whatever this replica claimed once it lapses.
      logger.error({ err }, `${this.options.runName} on this replica failed; its claims lapse to the others`);
    }
  }
}
