import { gzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type OtlpReceiver, startOtlpReceiver } from "./otlp-receiver.ts";

const payload = {
  resourceSpans: [
    {
      resource: { attributes: [{ key: "service.name", value: { stringValue: "poller" } }] },
      scopeSpans: [
        {
          scope: { name: "@syncwell/bus" },
          spans: [
            {
              traceId: "5b8efff798038103d269b633813fc60c",
              spanId: "eee19b7ec3c1b174",
              parentSpanId: "eee19b7ec3c1b173",
              name: "data.ingested process",
              kind: 5,
              startTimeUnixNano: "1700000000000000000",
              endTimeUnixNano: "1700000000100000000",
              attributes: [
                { key: "messaging.system", value: { stringValue: "nats" } },
                { key: "messaging.batch.message_count", value: { intValue: "3" } },
                { key: "retry", value: { boolValue: true } },
                { key: "ratio", value: { doubleValue: 0.5 } },
                {
                  key: "tags",
                  value: { arrayValue: { values: [{ stringValue: "a" }, { intValue: 2 }] } },
                },
                {
                  key: "nested",
                  value: { kvlistValue: { values: [{ key: "k", value: { stringValue: "v" } }] } },
                },
              ],
              links: [
                {
                  traceId: "0af7651916cd43dd8448eb211c80319c",
                  spanId: "b7ad6b7169203331",
                  attributes: [{ key: "messaging.message.id", value: { stringValue: "evt-1" } }],
                },
              ],
              events: [{ name: "exception", attributes: [] }],
              status: { code: 2, message: "boom" },
            },
          ],
        },
      ],
    },
  ],
};

describe("startOtlpReceiver", () => {
  let receiver: OtlpReceiver;
  beforeEach(async () => {
    receiver = await startOtlpReceiver();
  });
  afterEach(async () => {
    await receiver.close();
  });

  it("accepts OTLP/HTTP JSON and flattens the spans", async () => {
    expect(receiver.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(`${receiver.url}/v1/traces`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(payload),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({});

    const [span] = receiver.spans();
    expect(span).toMatchObject({
      traceId: "5b8efff798038103d269b633813fc60c",
      spanId: "eee19b7ec3c1b174",
      parentSpanId: "eee19b7ec3c1b173",
      name: "data.ingested process",
      kind: 5,
      serviceName: "poller",
      scopeName: "@syncwell/bus",
      attributes: {
        "messaging.system": "nats",
        "messaging.batch.message_count": 3,
        retry: true,
        ratio: 0.5,
        tags: ["a", 2],
        nested: { k: "v" },
      },
      links: [
        {
          traceId: "0af7651916cd43dd8448eb211c80319c",
          spanId: "b7ad6b7169203331",
          attributes: { "messaging.message.id": "evt-1" },
        },
      ],
      events: [{ name: "exception", attributes: {} }],
      status: { code: 2, message: "boom" },
    });
  });

  it("accepts gzip-compressed bodies and enum names for kind", async () => {
    const body = structuredClone(payload);
    const span = body.resourceSpans[0]?.scopeSpans[0]?.spans[0] as { kind: unknown } | undefined;
    if (span) span.kind = "SPAN_KIND_SERVER";
    const res = await fetch(`${receiver.url}/v1/traces`, {
      method: "POST",
      headers: { "content-type": "application/json; charset=utf-8", "content-encoding": "gzip" },
      body: gzipSync(JSON.stringify(body)),
    });
    expect(res.status).toBe(200);
    expect(receiver.spans()[0]?.kind).toBe(2);
  });

  it("answers protobuf with 415 and a message that says what to use", async () => {
    const res = await fetch(`${receiver.url}/v1/traces`, {
      method: "POST",
      headers: { "content-type": "application/x-protobuf" },
      body: new Uint8Array([1, 2, 3]),
    });
    expect(res.status).toBe(415);
    expect(((await res.json()) as { message: string }).message).toMatch(/JSON only/);
    expect(receiver.spans()).toEqual([]);
  });

  it("answers 404 for other signals and 400 for malformed JSON", async () => {
    const metrics = await fetch(`${receiver.url}/v1/metrics`, { method: "POST", body: "{}" });
    expect(metrics.status).toBe(404);
    const bad = await fetch(`${receiver.url}/v1/traces`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{not json",
    });
    expect(bad.status).toBe(400);
  });

  it("waitForSpans resolves once the predicate holds", async () => {
    const waiting = receiver.waitForSpans((spans) => spans.some((s) => s.name === "data.ingested process"));
    await fetch(`${receiver.url}/v1/traces`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(payload),
    });
    const spans = await waiting;
    expect(spans).toHaveLength(1);
  });

  it("waitForSpans rejects after the timeout, listing what arrived", async () => {
    await fetch(`${receiver.url}/v1/traces`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(payload),
    });
    await expect(receiver.waitForSpans((spans) => spans.length > 5, 100)).rejects.toThrow(
      /after 100ms; 1 span\(s\) received: poller:data\.ingested process/,
    );
  });
});
