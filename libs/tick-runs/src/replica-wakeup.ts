import { headers, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { context } from "@opentelemetry/api";
import { extractTraceContext, injectTraceContext, type Naming } from "@syncwell/bus";
import type { Logger } from "pino";
import { z } from "zod";

/**
 * A tick reaches one replica (the durable consumer is shared), but its work should not: the
 * replica that got it wakes the others over core NATS (a subject in no stream: a wake-up is a hint,
 * and a lost one costs only speed) and every replica joins the run, splitting the rows through
 * `FOR UPDATE SKIP LOCKED`. The wake-up carries the trace context, so the helpers' work shows in
 * the tick's trace.
 */
const wakeMessage = z.object({
  jobRunId: z.uuid(),
  startedAt: z.iso.datetime({ offset: true }),
  from: z.string().min(1),
});

export type WakeUp = { jobRunId: string; startedAt: Date; from: string };

export type ReplicaWakeups = {
  /** Tells the other replicas to join run `jobRunId` (started at `startedAt`, database time). */
  wake(jobRunId: string, startedAt: Date): void;
  /** Stops listening and waits for the runs this replica joined. */
  stop(): Promise<void>;
};

export function startReplicaWakeups(options: {
  nc: NatsConnection;
  naming: Naming;
  /** Relative core NATS subject, e.g. `poller.run.wake`. */
  subject: string;
  replicaId: string;
  logger: Logger;
  /** A replica that is shutting down joins nothing. */
  isStopping: () => boolean;
  /** Runs this replica's share of a run another replica started. */
  join: (wake: WakeUp) => Promise<void>;
}): ReplicaWakeups {
  const subject = options.naming.subject(options.subject);
  const joined = new Map<string, Promise<void>>();
  let subscription: Subscription | undefined = options.nc.subscribe(subject, {
    callback: (err, msg) => {
      if (err) {
        options.logger.warn({ err, subject }, "wake-up subscription error");
        return;
      }
      const parsed = wakeMessage.safeParse(
        (() => {
          try {
            return msg.json();
          } catch {
            return undefined;
          }
        })(),
      );
      if (!parsed.success) {
        options.logger.warn({ subject: msg.subject }, "ignored an unreadable wake-up");
        return;
      }
      const wake = { ...parsed.data, startedAt: new Date(parsed.data.startedAt) };
      if (wake.from === options.replicaId || options.isStopping() || joined.has(wake.jobRunId)) return;
      const run = context.with(extractTraceContext(msg.headers), () => options.join(wake));
      joined.set(wake.jobRunId, run);
      void run.finally(() => joined.delete(wake.jobRunId));
    },
  });

  return {
    wake(jobRunId, startedAt) {
      try {
        const h = headers();
        injectTraceContext(h);
        options.nc.publish(
          subject,
          JSON.stringify({ jobRunId, startedAt: startedAt.toISOString(), from: options.replicaId }),
          { headers: h },
        );
      } catch (err) {
        options.logger.warn({ err, jobRunId }, "could not wake the other replicas; this one works alone");
      }
    },
    async stop() {
      subscription?.unsubscribe();
      subscription = undefined;
      await Promise.allSettled([...joined.values()]);
    },
  };
}
