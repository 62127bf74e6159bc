import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";

/**
 * A minimal OTLP/HTTP trace receiver for tests: what Jaeger (or a collector) does on port 4318,
 * for the JSON encoding only. Tests point OTEL_EXPORTER_OTLP_ENDPOINT at `url` and assert on the
 * flattened spans that arrive.
 */

export type ReceivedLink = {
  traceId: string;
  spanId: string;
  attributes: Record<string, unknown>;
};

export type ReceivedEvent = {
  name: string;
  attributes: Record<string, unknown>;
};

export type ReceivedSpan = {
  traceId: string;
  spanId: string;
  /** Empty string for a root span. */
  parentSpanId: string;
  name: string;
  /** OTLP SpanKind: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  serviceName: string;
  /** Instrumentation scope (e.g. "@opentelemetry/instrumentation-pg"). */
  scopeName: string;
  attributes: Record<string, unknown>;
  resourceAttributes: Record<string, unknown>;
  links: ReceivedLink[];
  events: ReceivedEvent[];
  /** OTLP StatusCode: 0 unset, 1 ok, 2 error. */
  status: { code: number; message?: string };
  startTimeUnixNano: string;
  endTimeUnixNano: string;
};

export type OtlpReceiver = {
  /** Base URL, e.g. http://127.0.0.1:43121 — the value for OTEL_EXPORTER_OTLP_ENDPOINT. */
  url: string;
  /** Environment for a process that should export here: endpoint, and JSON encoding (services default to protobuf). */
  env: { OTEL_EXPORTER_OTLP_ENDPOINT: string; OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" };
  spans(): ReceivedSpan[];
  waitForSpans(predicate: (spans: ReceivedSpan[]) => boolean, timeoutMs?: number): Promise<ReceivedSpan[]>;
  close(): Promise<void>;
};

// --- OTLP JSON shapes (only what is read here; every field is optional on the wire) ---

type AnyValue = {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number | string;
  bytesValue?: string;
  arrayValue?: { values?: AnyValue[] };
  kvlistValue?: { values?: KeyValue[] };
};
type KeyValue = { key: string; value?: AnyValue };
type OtlpLink = { traceId?: string; spanId?: string; attributes?: KeyValue[] };
type OtlpEvent = { name?: string; attributes?: KeyValue[] };
type OtlpSpan = {
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
  name?: string;
  kind?: number | string;
  attributes?: KeyValue[];
  links?: OtlpLink[];
  events?: OtlpEvent[];
  status?: { code?: number | string; message?: string };
  startTimeUnixNano?: string | number;
  endTimeUnixNano?: string | number;
};
type ExportTraceServiceRequest = {
  resourceSpans?: Array<{
    resource?: { attributes?: KeyValue[] };
    scopeSpans?: Array<{ scope?: { name?: string }; spans?: OtlpSpan[] }>;
  }>;
};

const SPAN_KINDS: Record<string, number> = {
  SPAN_KIND_UNSPECIFIED: 0,
  SPAN_KIND_INTERNAL: 1,
  SPAN_KIND_SERVER: 2,
  SPAN_KIND_CLIENT: 3,
  SPAN_KIND_PRODUCER: 4,
  SPAN_KIND_CONSUMER: 5,
};
const STATUS_CODES: Record<string, number> = {
  STATUS_CODE_UNSET: 0,
  STATUS_CODE_OK: 1,
  STATUS_CODE_ERROR: 2,
};

export function decodeAnyValue(value: AnyValue | undefined): unknown {
  if (value === undefined || value === null) return undefined;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return Number(value.doubleValue);
  if (value.bytesValue !== undefined) return value.bytesValue;
  if (value.arrayValue !== undefined) return (value.arrayValue.values ?? []).map(decodeAnyValue);
  if (value.kvlistValue !== undefined) return decodeAttributes(value.kvlistValue.values);
  return undefined;
}

export function decodeAttributes(list: KeyValue[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of list ?? []) out[kv.key] = decodeAnyValue(kv.value);
  return out;
}

function enumNumber(value: number | string | undefined, names: Record<string, number>): number {
  if (typeof value === "number") return value;
  if (typeof value === "string") return names[value] ?? Number(value);
  return 0;
}

export function flattenTraceRequest(body: ExportTraceServiceRequest): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of body.resourceSpans ?? []) {
    const resourceAttributes = decodeAttributes(rs.resource?.attributes);
    const serviceName = String(resourceAttributes["service.name"] ?? "");
    for (const ss of rs.scopeSpans ?? []) {
      const scopeName = ss.scope?.name ?? "";
      for (const span of ss.spans ?? []) {
        out.push({
          traceId: span.traceId ?? "",
          spanId: span.spanId ?? "",
          parentSpanId: span.parentSpanId ?? "",
          name: span.name ?? "",
          kind: enumNumber(span.kind, SPAN_KINDS),
          serviceName,
          scopeName,
          attributes: decodeAttributes(span.attributes),
          resourceAttributes,
          links: (span.links ?? []).map((link) => ({
            traceId: link.traceId ?? "",
            spanId: link.spanId ?? "",
            attributes: decodeAttributes(link.attributes),
          })),
          events: (span.events ?? []).map((event) => ({
            name: event.name ?? "",
            attributes: decodeAttributes(event.attributes),
          })),
          status: {
            code: enumNumber(span.status?.code, STATUS_CODES),
            ...(span.status?.message ? { message: span.status.message } : {}),
          },
          startTimeUnixNano: String(span.startTimeUnixNano ?? ""),
          endTimeUnixNano: String(span.endTimeUnixNano ?? ""),
        });
      }
    }
  }
  return out;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks);
  return req.headers["content-encoding"] === "gzip" ? gunzipSync(raw) : raw;
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const received: ReceivedSpan[] = [];
  /** One wake-up per pending `waitForSpans`, called after each accepted export. */
  const waiters = new Set<() => void>();

  const server = createServer((req, res) => {
    const accept = (spans: ReceivedSpan[]): void => {
      received.push(...spans);
      for (const wake of waiters) wake();
    };
    void receiveExport(req, res, accept).catch((err: unknown) => {
      reply(res, 500, { message: err instanceof Error ? err.message : String(err) });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    },
    spans: () => [...received],
    waitForSpans: (predicate, timeoutMs = 10_000) => waitForSpans(received, waiters, predicate, timeoutMs),
    close() {
      return new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}

/** Answers one request the way an OTLP/HTTP JSON endpoint does; hands the spans of a valid export to `accept`. */
async function receiveExport(
  req: IncomingMessage,
  res: ServerResponse,
  accept: (spans: ReceivedSpan[]) => void,
): Promise<void> {
  const path = (req.url ?? "").split("?")[0];
  if (path !== "/v1/traces") {
    await readBody(req);
    reply(res, 404, { message: `this test receiver only accepts POST /v1/traces, not ${req.url}` });
    return;
  }
  if (req.method !== "POST") {
    reply(res, 405, { message: "POST only" });
    return;
  }
  const contentType = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  const body = await readBody(req);
  if (contentType !== "application/json") {
    reply(res, 415, {
      message:
        `unsupported content-type "${contentType}": this test receiver decodes OTLP/HTTP JSON only ` +
        "(use @opentelemetry/exporter-trace-otlp-http, or OTEL_EXPORTER_OTLP_PROTOCOL=http/json)",
    });
    return;
  }
  let parsed: ExportTraceServiceRequest;
  try {
    parsed = JSON.parse(body.toString("utf8")) as ExportTraceServiceRequest;
  } catch (err) {
    reply(res, 400, { message: `invalid JSON: ${(err as Error).message}` });
    return;
  }
  const spans = flattenTraceRequest(parsed);
  // OTLP answers a fully accepted export with an empty ExportTraceServiceResponse.
  reply(res, 200, {});
  accept(spans);
}

/**
 * Resolves to the spans received so far once `predicate` holds for them (checked now and after each
 * export), rejects when it throws or `timeoutMs` passes.
 */
function waitForSpans(
  received: readonly ReceivedSpan[],
  waiters: Set<() => void>,
  predicate: (spans: ReceivedSpan[]) => boolean,
  timeoutMs: number,
): Promise<ReceivedSpan[]> {
  return new Promise<ReceivedSpan[]>((resolve, reject) => {
    const check = (): void => {
      const snapshot = [...received];
      let met: boolean;
      try {
        met = predicate(snapshot);
      } catch (err) {
        cleanup();
        reject(err);
        return;
      }
      if (!met) return;
      cleanup();
      resolve(snapshot);
    };
    const timer = setTimeout(() => {
      cleanup();
      const names = received.map((s) => `${s.serviceName}:${s.name}`);
      reject(
        new Error(
          `waitForSpans: condition not met after ${timeoutMs}ms; ${received.length} span(s) received` +
            (names.length ? `: ${names.join(", ")}` : ""),
        ),
      );
    }, timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      waiters.delete(check);
    };
    waiters.add(check);
    check();
  });
}
