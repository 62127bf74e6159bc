import { type MsgHdrs, type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import { type Bus, EVENT_TYPE_HEADER, EVENT_VERSION_HEADER, type Naming } from "@syncwell/bus";
import { type AnyEvent, createEvent, type EventOf, subjectOf, uuidv7 } from "@syncwell/contracts";
import { findJobRun, type JobRunRecord, type Queryable, startJobRun } from "@syncwell/db";
import { waitFor } from "./wait.ts";

/**
 * token.failed as the token service publishes it when the provider revoked the grant: permanent,
 * the connection now needs_reauth and is not retried until the user reconnects.
 */
export function needsReauthEvent(
  connection: { connectionId: string; userId: string; provider: string },
  source = "test",
): EventOf<"token.failed"> {
  return createEvent(
    "token.failed",
    {
      ...connection,
      classification: "permanent",
      errorCode: "invalid_grant",
      consecutiveFailures: 1,
      consecutiveTransientFailures: 0,
      previousStatus: "connected",
      status: "needs_reauth",
      retryAt: null,
    },
    { source },
  );
}

/**
 * Starts a job run for `schedule` and publishes its tick, as the scheduler does; resolves to the
 * run's id (which the services report their counts to).
 */
export async function publishTick(
  deps: { db: Queryable; bus: Pick<Bus, "publish"> },
  schedule: string,
  options: { slot?: Date; source?: string } = {},
): Promise<string> {
  const jobRunId = uuidv7();
  const slot = options.slot ?? new Date();
  await startJobRun(deps.db, { id: jobRunId, schedule, slot });
  await deps.bus.publish(
    createEvent(
      "tick",
      { schedule, slot: slot.toISOString(), catchUp: false, manual: false, jobRunId },
      { source: options.source ?? "test" },
    ),
  );
  return jobRunId;
}

/** Waits until job run `jobRunId` is finished (any outcome) and resolves it. */
export async function finishedJobRun(
  db: Queryable,
  jobRunId: string,
  timeoutMs = 30_000,
): Promise<JobRunRecord> {
  return waitFor(
    async () => {
      const run = await findJobRun(db, jobRunId);
      return run?.finishedAt ? run : undefined;
    },
    `job run ${jobRunId} to finish`,
    { timeoutMs },
  );
}

/** An event encoded as the bus publishes it (prefixed subject, JSON body, headers), ready to send. */
export type PreparedEvent = { subject: string; body: string; headers: MsgHdrs };

/**
 * Encodes an event as `Bus.publish` sends it: the subject with the deployment's prefix, the
 * envelope as JSON, and its `Nats-Msg-Id`, type and version headers. For a bench's load, made
 * before the clock starts and sent with `sendPrepared`.
 */
export function prepareEvent(naming: Naming, event: AnyEvent): PreparedEvent {
  const headers = natsHeaders();
  headers.set("Nats-Msg-Id", event.id);
  headers.set(EVENT_TYPE_HEADER, event.type);
  headers.set(EVENT_VERSION_HEADER, String(event.version));
  return { subject: naming.subject(subjectOf(event)), body: JSON.stringify(event), headers };
}

/**
 * Sends prepared events as plain NATS messages, which their stream stores as it would a JetStream
 * publish (the message id still deduplicates) but without an acknowledgement for each: a bench's
 * load generator shares the machine with the service it measures, and a JetStream publish costs
 * it a request and a reply per event. Waits for the server (a flush) every `flushEvery` events and
 * at the end; `onSend(i)` is called just before event `i` goes.
 */
export async function sendPrepared(
  nc: NatsConnection,
  events: readonly PreparedEvent[],
  options: { onSend?: (i: number) => void; flushEvery?: number } = {},
): Promise<void> {
  const flushEvery = options.flushEvery ?? 256;
  for (let i = 0; i < events.length; i++) {
    const { subject, body, headers } = events[i] as PreparedEvent;
    options.onSend?.(i);
    nc.publish(subject, body, { headers });
    if ((i + 1) % flushEvery === 0) await nc.flush();
  }
  await nc.flush();
}
