import { redactUrl } from "@syncwell/runtime";

/**
 * Where an exchange was when it failed:
 * - connect: waiting for a pooled connection or opening one;
 * - send: handing the request to the connection;
 * - headers: the request is out, waiting for the response headers;
 * - body: reading the response body.
 */
export type HttpPhase = "connect" | "send" | "headers" | "body";

/**
 * - timeout: a time limit ran out;
 * - network: the connection failed (refused, reset, closed, unknown host, TLS);
 * - body_too_large: the response body passed its bound;
 * - aborted: the caller's signal ended the exchange.
 */
export type HttpFailureReason = "timeout" | "network" | "body_too_large" | "aborted";

/**
 * No complete answer came. The message names the method, the origin and path (query parameters
 * that look like credentials redacted, never a header or a body) and what failed where.
 */
export class HttpRequestError extends Error {
  override readonly name = "HttpRequestError";
  readonly reason: HttpFailureReason;
  readonly phase: HttpPhase;
  /**
   * The whole request had been handed to the network: the server may have received it and acted
   * on it. False means it cannot have (nothing, or not all of it, was sent).
   */
  readonly sent: boolean;
  /** The system or undici error code (ECONNREFUSED, ECONNRESET, ENOTFOUND, UND_ERR_SOCKET …). */
  readonly code: string | undefined;

  constructor(
    message: string,
    fields: { reason: HttpFailureReason; phase: HttpPhase; sent: boolean; code?: string | undefined },
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.reason = fields.reason;
    this.phase = fields.phase;
    this.sent = fields.sent;
    this.code = fields.code;
  }
}

const DURING: Record<HttpPhase, string> = {
  connect: "while connecting",
  send: "while sending the request",
  headers: "waiting for the response headers",
  body: "while reading the response body",
};

/** undici's own limits, should one apply (the connect timeout does). */
const TIMEOUT_CODES = new Set(["UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"]);

/** The failure of one exchange: `reason` when the client decided it, else read from undici's error. */
export function requestError(failure: {
  method: string;
  url: URL;
  phase: HttpPhase;
  sent: boolean;
  reason: HttpFailureReason | undefined;
  cause: unknown;
  maxBodyBytes: number;
}): HttpRequestError {
  const code = errorCode(failure.cause);
  const reason =
    failure.reason ??
    (code !== undefined && TIMEOUT_CODES.has(code)
      ? "timeout"
      : code === "UND_ERR_ABORTED"
        ? "aborted"
        : "network");
  const during = DURING[failure.phase];
  const what =
    reason === "timeout"
      ? `timed out ${during}`
      : reason === "body_too_large"
        ? `response body larger than ${failure.maxBodyBytes} bytes`
        : reason === "aborted"
          ? `aborted ${during}`
          : `${code ?? "network error"} ${during}`;
  const target = `${failure.url.origin}${redactUrl(failure.url.pathname + failure.url.search)}`;
  return new HttpRequestError(
    `${failure.method} ${target}: ${what}`,
    { reason, phase: failure.phase, sent: failure.sent, code },
    failure.cause === undefined ? undefined : { cause: failure.cause },
  );
}

/** The code of a system or undici error, or of its cause. */
function errorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | undefined;
  if (typeof e?.code === "string") return e.code;
  return typeof e?.cause?.code === "string" ? e.cause.code : undefined;
}
