import { type Span, type SpanOptions, SpanStatusCode, type Tracer } from "@opentelemetry/api";

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
