import type { JetStreamClient, PubAck } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { type Context, context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { type AnyEvent, catalog, formatIssues, isBuiltEvent, subjectOf } from "@syncwell/contracts";
import type { BusMetrics } from "./metrics.ts";
import type { Naming } from "./naming.ts";
import { injectTraceContext } from "./trace-context.ts";

export const tracer = trace.getTracer("@syncwell/bus");

/** Header names the bus sets besides Nats-Msg-Id and the W3C trace context. */
export const EVENT_TYPE_HEADER = "Syncwell-Event-Type";
export const EVENT_VERSION_HEADER = "Syncwell-Event-Version";

export type PublishResult = { stream: string; seq: number; duplicate: boolean };

export class PublishValidationError extends Error {
  override readonly name = "PublishValidationError";
}

/**
 * Checks an event against its contract before it leaves the process; throws naming the bad fields.
 * An envelope createEvent built (frozen, checked then) is not checked again.
 */
export function assertValidEvent(event: AnyEvent): void {
  if (isBuiltEvent(event)) return;
  const def = catalog[event.type];
  if (!def) throw new PublishValidationError(`unknown event type "${(event as { type: string }).type}"`);
  const parsed = def.envelope.safeParse(event);
  if (!parsed.success) {
    throw new PublishValidationError(
      `refusing to publish invalid ${event.type}: ${formatIssues(parsed.error)}`,
    );
  }
}

/**
 * Publishes one event: validated, JetStream message id = event id (a repeat inside the duplicate
 * window is stored once and reported as `duplicate`, not as an error), trace context in the headers,
 * inside a PRODUCER span that follows the messaging semantic conventions.
 */
export async function publishEvent(
  deps: { js: JetStreamClient; naming: Naming; metrics: BusMetrics; timeoutMs: number },
  event: AnyEvent,
  parent: Context = context.active(),
): Promise<PublishResult> {
  assertValidEvent(event);
  const subject = deps.naming.subject(subjectOf(event));
  const span = tracer.startSpan(
    `send ${subject}`,
    {
      kind: SpanKind.PRODUCER,
      attributes: {
        "messaging.system": "nats",
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "messaging.destination.name": subject,
        "messaging.message.id": event.id,
        "syncwell.event.type": event.type,
      },
    },
    parent,
  );
  const hdrs = natsHeaders();
  hdrs.set(EVENT_TYPE_HEADER, event.type);
  hdrs.set(EVENT_VERSION_HEADER, String(event.version));
  injectTraceContext(hdrs, trace.setSpan(parent, span));
  try {
    const ack: PubAck = await deps.js.publish(subject, JSON.stringify(event), {
      msgID: event.id,
      headers: hdrs,
      timeout: deps.timeoutMs,
    });
    span.setAttribute("messaging.nats.stream.sequence", ack.seq);
    if (ack.duplicate) span.setAttribute("messaging.nats.duplicate", true);
    deps.metrics.published.inc({ type: event.type, outcome: ack.duplicate ? "duplicate" : "stored" });
    return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
  } catch (err) {
    span.recordException(err as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
    deps.metrics.published.inc({ type: event.type, outcome: "failed" });
    throw err;
  } finally {
    span.end();
  }
}
