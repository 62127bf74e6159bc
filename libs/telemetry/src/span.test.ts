import { SpanStatusCode } from "@opentelemetry/api";
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import { describe, expect, it } from "vitest";
import { inSpan } from "./span.ts";

const exporter = new InMemorySpanExporter();
const tracer = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] }).getTracer(
  "test",
);

describe("inSpan", () => {
  it("runs the function in a span, returns its result and ends the span", async () => {
    exporter.reset();
    const result = await inSpan(tracer, "work", { attributes: { a: 1 } }, async (span) => {
      expect(span.isRecording()).toBe(true);
      return 42;
    });
    expect(result).toBe(42);
    const [span] = exporter.getFinishedSpans();
    expect(span?.name).toBe("work");
    expect(span?.attributes).toEqual({ a: 1 });
    expect(span?.status.code).toBe(SpanStatusCode.UNSET);
  });

  it("records a thrown error on the span, marks it as an error and rethrows", async () => {
    exporter.reset();
    await expect(
      inSpan(tracer, "fails", {}, async () => {
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    const [span] = exporter.getFinishedSpans();
    expect(span?.status).toEqual({ code: SpanStatusCode.ERROR, message: "boom" });
    expect(span?.events.map((e) => e.name)).toEqual(["exception"]);
  });
});
