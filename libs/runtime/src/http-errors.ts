import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { FastifyBaseLogger, FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";

export type ErrorDetail = { path: string; message: string };

/** An error reply in the runtime's format (`{ error, message }`), plus fields that help the caller. */
export function sendError(
  reply: FastifyReply,
  status: number,
  body: ErrorBody & Record<string, unknown>,
): FastifyReply {
  return reply.code(status).send(body);
}

/**
 * The one error format of every service: `error` a snake_case code, `message` for people (never
 * quoting what was sent), `details` one entry per located problem (`body.scopes.0`, `query.limit`,
 * `params.id`, `headers.idempotency-key`) on every 4xx caused by a part of the request.
 */
export type ErrorBody = {
  error: string;
  message?: string;
  details?: ErrorDetail[];
};

export function errorCode(status: number): string {
  if (status === 400) return "bad_request";
  return (STATUS_CODES[status] ?? "error")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .replace(/^_|_$/g, "");
}

export function pathOnly(url: string): string {
  return url.split("?")[0] ?? url;
}

/** A path as a message may name it: bounded, so a 16 KiB hostile path is not sent back whole. */
export function shownPath(url: string): string {
  const path = pathOnly(url);
  return path.length > 100 ? `${path.slice(0, 100)}…` : path;
}

const MAX_KEY_SHOWN = 64;

function zodDetails(err: z.ZodError): ErrorDetail[] {
  return err.issues.flatMap((issue) => {
    const path = issue.path.map(String).join(".");
    // Zod's own message quotes the unknown names; each becomes a located detail instead.
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((key) => ({
        path: [path, key.slice(0, MAX_KEY_SHOWN)].filter(Boolean).join("."),
        message: "is not a known field",
      }));
    }
    return [{ path, message: issue.message }];
  });
}

function ajvDetails(err: FastifyError): ErrorDetail[] {
  const context = err.validationContext ?? "request";
  return (err.validation ?? []).map((v) => {
    const missing = (v.params as { missingProperty?: unknown } | undefined)?.missingProperty;
    const segments = [context, ...v.instancePath.split("/").filter(Boolean)];
    if (typeof missing === "string") segments.push(missing);
    return { path: segments.join("."), message: v.message ?? "is invalid" };
  });
}

/**
 * Fastify's body-reading errors, answered with a fixed message (Fastify's may quote the content
 * type that was sent) and located at the part of the request at fault.
 */
const BODY_ERRORS: Record<string, ErrorDetail> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    path: "headers.content-type",
    message: "is not supported: send application/json",
  },
  FST_ERR_CTP_BODY_TOO_LARGE: { path: "body", message: "is larger than the server accepts" },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    path: "headers.content-length",
    message: "does not match the size of the body",
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: { path: "body", message: "is empty but content-type is application/json" },
  FST_ERR_CTP_INVALID_JSON_BODY: { path: "body", message: "is not valid JSON" },
  FST_ERR_BODY_NOT_UTF8: { path: "body", message: "is not valid UTF-8" },
};

/** Maps every error to the format without stack traces; 5xx are logged with their context. */
export function toErrorReply(
  err: FastifyError | Error,
  request: FastifyRequest,
): { status: number; body: ErrorBody } {
  if (err instanceof z.ZodError) {
    return {
      status: 400,
      body: { error: "bad_request", message: "request is invalid", details: zodDetails(err) },
    };
  }
  const fastifyError = err as FastifyError;
  if (fastifyError.validation) {
    return {
      status: 400,
      body: { error: "bad_request", message: "request is invalid", details: ajvDetails(fastifyError) },
    };
  }
  const status = fastifyError.statusCode;
  if (typeof status === "number" && status >= 400 && status < 500) {
    const detail = fastifyError.code ? BODY_ERRORS[fastifyError.code] : undefined;
    if (detail) {
      return {
        status,
        body: { error: errorCode(status), message: `${detail.path} ${detail.message}`, details: [detail] },
      };
    }
    return { status, body: { error: errorCode(status), message: err.message } };
  }
  request.log.error(
    { err, method: request.method, route: request.routeOptions.url, path: pathOnly(request.url) },
    "request failed",
  );
  return {
    status: 500,
    body: { error: "internal", message: `the server failed; the log has it under request id ${request.id}` },
  };
}

/**
 * Errors the router raises before any route runs (a path whose percent-encoding cannot be decoded,
 * a parameter over the router's length bound): answered in the format, without echoing the path.
 */
export function answerFrameworkError(
  err: FastifyError,
  _request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  const status = err.code === "FST_ERR_MAX_PARAM_LENGTH" ? 414 : 400;
  const detail =
    status === 414
      ? { path: "params", message: "is longer than the server accepts" }
      : { path: "url", message: "is not a valid URL (malformed percent-encoding)" };
  return reply
    .code(status)
    .send({ error: errorCode(status), message: `${detail.path} ${detail.message}`, details: [detail] });
}

/** What Node's HTTP parser reports, as the answer written on the raw socket. */
function clientErrorReply(code: string | undefined): { status: number; body: ErrorBody } {
  if (code === "ERR_HTTP_REQUEST_TIMEOUT") {
    return {
      status: 408,
      body: {
        error: "request_timeout",
        message: "the request (headers and body) did not arrive within the server's time limit",
      },
    };
  }
  if (code === "HPE_HEADER_OVERFLOW") {
    const detail = { path: "headers", message: "are larger than the server accepts (16 KiB with the URL)" };
    return {
      status: 431,
      body: { error: errorCode(431), message: `headers ${detail.message}`, details: [detail] },
    };
  }
  const detail = { path: "request", message: "is not valid HTTP/1.1" };
  return {
    status: 400,
    body: { error: "bad_request", message: "request is not valid HTTP/1.1", details: [detail] },
  };
}

/**
 * `clientErrorHandler` of the server: a request Node's parser refused or that timed out, answered
 * in the format and the connection closed. Only the error code is logged: Node's error carries the
 * raw bytes received (`rawPacket`), which can hold an Authorization header.
 */
export function clientErrorHandler(log: FastifyBaseLogger) {
  return (err: NodeJS.ErrnoException, socket: Socket): void => {
    if (err.code === "ECONNRESET" || socket.destroyed) return;
    const { status, body } = clientErrorReply(err.code);
    log.debug({ code: err.code, status }, "client error");
    if (socket.writable) {
      const text = JSON.stringify(body);
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
          `Content-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
      );
    }
    socket.destroy();
  };
}
