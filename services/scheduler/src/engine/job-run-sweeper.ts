import type { JetStreamManager } from "@nats-io/jetstream";
import type { Naming } from "@syncwell/bus";
import { streams, subjectMatches } from "@syncwell/contracts";
import { abandonJobRuns, type Queryable } from "@syncwell/db";
import { type Logger, type RepeatedFailureLog, repeatedFailureLog } from "@syncwell/telemetry";

export type JobRunSweeperOptions = {
  pool: Queryable;
  jsm: JetStreamManager;
  naming: Naming;
  logger: Logger;
  /** Every schedule the scheduler publishes (switched-off ones included: their runs may linger). */
  schedules: readonly string[];
  /** A run of a schedule no consumer reads is abandoned after this long. */
  unclaimedAfterMs: number;
  /** Any run still running after this long is abandoned. */
  deadlineMs: number;
  intervalMs: number;
};

export type JobRunSweeper = { sweep(): Promise<number>; stop(): void };

/**
 * Ends job runs nobody will finish, so `running` always means someone is working on it: a run of a
 * schedule that no durable consumer reads (a schedule whose service does not exist yet) after
 * `unclaimedAfterMs`, and any run past `deadlineMs` (every attempt of its tick died or gave up).
 * Each ends `abandoned` with the reason. Every scheduler replica sweeps; the update is idempotent.
 */
export function startJobRunSweeper(options: JobRunSweeperOptions): JobRunSweeper {
  const failures: RepeatedFailureLog = repeatedFailureLog(options.logger, "sweeping abandoned job runs", {
    level: "warn",
  });
  const sweep = async (): Promise<number> => {
    const unread = await schedulesWithoutConsumer(options);
    const ended = [
      ...(unread.length === 0
        ? []
        : await abandonJobRuns(options.pool, {
            olderThanMs: options.unclaimedAfterMs,
            schedules: unread,
            reason: "no service consumes this schedule's ticks (no durable consumer reads tick.<schedule>)",
          })),
      ...(await abandonJobRuns(options.pool, {
        olderThanMs: options.deadlineMs,
        reason: `not finished within ${Math.round(options.deadlineMs / 60_000)} min: every attempt at its tick stopped (see the consumer's logs and dead letters)`,
      })),
    ];
    for (const run of ended) {
      options.logger.warn({ jobRunId: run.id, schedule: run.schedule }, "job run abandoned");
    }
    return ended.length;
  };
  const timer = setInterval(() => {
    sweep().then(
      () => failures.succeeded(),
      (err: unknown) => failures.failed(err),
    );
  }, options.intervalMs);
  timer.unref();
  return { sweep, stop: () => clearInterval(timer) };
}

/** The schedules whose ticks no durable consumer of the TICKS stream reads. */
async function schedulesWithoutConsumer(options: JobRunSweeperOptions): Promise<string[]> {
  const filters: string[] = [];
  for await (const consumer of options.jsm.consumers.list(options.naming.stream(streams.ticks))) {
    const filter = consumer.config.filter_subject;
    filters.push(filter ? options.naming.relative(filter) : "tick.>");
  }
  return options.schedules.filter(
    (schedule) => !filters.some((filter) => subjectMatches(filter, `tick.${schedule}`)),
  );
}
