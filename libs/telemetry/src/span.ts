import { context, type Span, type SpanOptions, SpanStatusCode, type Tracer } from "@opentelemetry/api";
import { suppressTracing } from "@opentelemetry/core";

/**
 * Runs `fn` in a new active span and ends it: an error thrown by `fn` is recorded on the span, sets
 * its status to ERROR and is rethrown. (A no-op span when telemetry is not started.)
 */
export function inSpan<T>(
  tracer: Tracer,
  name: string,
  options: SpanOptions,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  return tracer.startActiveSpan(name, options, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      throw err;
    } finally {
      span.end();
    }
  });
}

/**
 * Runs `fn` with tracing suppressed: nothing it does, the queries of instrumented libraries
 * included, makes a span. For a service's own housekeeping (an idle poll every second), which would
 * otherwise send a trace of its own each time and bury real traffic.
 */
export function withoutTracing<T>(fn: () => T): T {
  return context.with(suppressTracing(context.active()), fn);
}
