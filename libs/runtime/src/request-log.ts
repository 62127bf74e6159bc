import type { IncomingMessage } from "node:http";
import type { FastifyRequest } from "fastify";

export const REDACTED_PARAM = "[redacted]";

/**
 * Query parameters whose values never reach a log line. Matched against the lower-cased name with
 * `_` and `-` removed, so `access_token`, `accessToken` and `Access-Token` are one name; a name
 * that merely contains one of these parts (`x_api_key`, `session_token`) counts too, because a
 * client that puts a credential in a URL rarely picks a name from a fixed list.
 */
const SECRET_PARAM_PARTS = [
  "token",
  "secret",
  "password",
  "passwd",
  "apikey",
  "key",
  "auth",
  "code",
  "signature",
  "sig",
  "session",
  "credential",
  "cookie",
  "jwt",
  "assertion",
];

/** Longest URL written to a log line; the rest of a 16 KiB hostile path says nothing more. */
const MAX_LOGGED_URL = 2048;

function isSecretParam(name: string): boolean {
  const normalised = name.toLowerCase().replace(/[-_]/g, "");
  return SECRET_PARAM_PARTS.some((part) => normalised.includes(part));
}

/**
 * The URL as logged: the path as it came, and the query with each sensitive parameter's value
 * replaced (`/connections?access_token=[redacted]&limit=5`). Works on the raw, still-encoded text,
 * so what is logged is what was sent, minus the secrets; a name is decoded only to be judged.
 */
export function redactUrl(url: string): string {
  const q = url.indexOf("?");
  const clipped = (text: string) =>
    text.length > MAX_LOGGED_URL ? `${text.slice(0, MAX_LOGGED_URL)}…(truncated)` : text;
  if (q < 0) return clipped(url);
  const query = url
    .slice(q + 1)
    .split("&")
    .map((pair) => {
      const eq = pair.indexOf("=");
      const rawName = eq < 0 ? pair : pair.slice(0, eq);
      let name = rawName;
      try {
        name = decodeURIComponent(rawName.replace(/\+/g, " "));
      } catch {
        // A malformed escape: judge the name as sent.
      }
      return eq >= 0 && isSecretParam(name) ? `${rawName}=${REDACTED_PARAM}` : pair;
    })
    .join("&");
  return clipped(`${url.slice(0, q)}?${query}`);
}

/**
 * A client's `x-request-id` is logged (as `clientRequestId`) only in this form: the ids proxies and
 * tracing libraries make (UUIDs, ULIDs, W3C trace ids, `host-123:4`) fit, and nothing that could
 * break a log line or pose as another field does. The log's own `reqId` is always generated here,
 * so a client cannot forge another request's id.
 */
const SAFE_REQUEST_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export function clientRequestId(raw: IncomingMessage): string | undefined {
  const value = raw.headers["x-request-id"];
  return typeof value === "string" && SAFE_REQUEST_ID.test(value) ? value : undefined;
}

/** pino serializer for `req` in Fastify's request logs: Fastify's fields, with the URL redacted. */
export function requestLogValue(request: FastifyRequest) {
  return {
    method: request.method,
    url: redactUrl(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}
