import type { MsgHdrs } from "@nats-io/transport-node";
import {
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type TextMapGetter,
  type TextMapSetter,
} from "@opentelemetry/api";

/**
 * W3C trace context over NATS headers. No NATS instrumentation package exists for nats.js v3, so
 * the bus carries `traceparent`/`tracestate` itself through the globally configured propagator.
 */
const headerSetter: TextMapSetter<MsgHdrs> = {
  set: (carrier, key, value) => carrier.set(key, value),
};

const headerGetter: TextMapGetter<MsgHdrs | undefined> = {
  keys: (carrier) => (carrier ? carrier.keys() : []),
  get: (carrier, key) => (carrier?.has(key) ? carrier.get(key) : undefined),
};

export function injectTraceContext(headers: MsgHdrs, ctx: Context = context.active()): void {
  propagation.inject(ctx, headers, headerSetter);
}

export function extractTraceContext(headers: MsgHdrs | undefined): Context {
  return propagation.extract(context.active(), headers, headerGetter);
}

/** Trace context of `ctx` as a plain record, to store beside an outbox row. */
export function traceContextRecord(ctx: Context = context.active()): Record<string, string> {
  const record: Record<string, string> = {};
  propagation.inject(ctx, record);
  return record;
}

/**
 * Context carried by a stored record (see traceContextRecord). Built on the root context, not the
 * active one: the record is the whole of the parent, and the relay reading it runs with tracing
 * suppressed, which the publish it makes must not inherit.
 */
export function contextFromRecord(record: Record<string, string>): Context {
  return propagation.extract(ROOT_CONTEXT, record);
}
