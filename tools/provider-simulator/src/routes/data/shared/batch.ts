import { randomUUID } from "node:crypto";
import { STATUS_CODES } from "node:http";
import type { FastifyReply, FastifyRequest } from "fastify";
import { delay, hang, type SimulatorContext } from "../../../context.ts";
import type { DataPlatform } from "../../../data/dataset.ts";
import type { RouteRegistration } from "../../index.ts";
import {
  callData,
  type DataEndpoint,
  type DataRoute,
  dataBodyText,
  faultResponse,
  openDataCall,
  sendData,
} from "./endpoint.ts";
import { badRequest, type DataResponse, platformError } from "./errors.ts";

/** Google's limit for one batch (it recommends at most 50 for Gmail). */
export const MAX_BATCH_CALLS = 100;

export type BatchRouteOptions = {
  platform: DataPlatform;
  /** Simulator path of the batch endpoint, e.g. `/gmail/batch/gmail/v1`. */
  url: string;
  /** The platform's endpoints a part may call. */
  routes: readonly DataRoute[];
};

/** One part of a batch request: an HTTP request of the platform's API. */
type BatchPart = {
  /** The part's `Content-ID` without its angle brackets (null when it has none). */
  contentId: string | null;
  method: string;
  /** Path and query as the real API has them (`/gmail/v1/users/me/messages/1a?format=minimal`). */
  url: string;
  /** The part's own headers (lower-case names); they override the batch request's. */
  headers: Record<string, string>;
};

type Target = { endpoint: DataEndpoint; pattern: RegExp; names: string[] };

/**
 * Google's batch endpoint (`POST /batch/<api>/<version>`, "Batching requests" in each Google API's
 * guide): a `multipart/mixed` body whose parts (`Content-Type: application/http`) are each one
 * HTTP request of the API; the answer is `200 multipart/mixed`, one `application/http` part per
 * call in the same order, its `Content-ID` the request part's with `response-` in front. Each call
 * goes through the same pipeline as a direct request (the batch's `Authorization` unless the part
 * has its own, faults, scopes, the data rate limit, a request-log entry), so each part can fail on
 * its own; the simulated latency applies once, to the batch. The batch itself is logged as
 * `<platform>.batch` and takes the faults that match it (a `malformed` one cuts its answer off).
 */
export function batchRoute(options: BatchRouteOptions): RouteRegistration {
  const batch = {
    ...options,
    // Parts name the real API's paths; the simulator serves them under `/<platform>`.
    prefix: `/${options.platform}`,
    targets: options.routes.map(({ endpoint }) => ({ endpoint, ...compilePath(endpoint.url) })),
  };
  return (app, sim) => {
    // Its own scope: the body is taken as text whatever its type, so a wrong one gets Google's 400.
    void app.register(async (scope) => {
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser("*", { parseAs: "string" }, (_request, body, done) => done(null, body));
      scope.post(options.url, (request, reply) => handleBatch(sim, batch, request, reply));
    });
  };
}

async function handleBatch(
  sim: SimulatorContext,
  batch: BatchRouteOptions & { prefix: string; targets: readonly Target[] },
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<FastifyReply | undefined> {
  const { platform } = batch;
  const open = openDataCall(sim.state, {
    platform,
    resource: `${platform}.batch`,
    path: batch.url,
    authorization: request.headers.authorization,
  });
  const { fault } = open;
  if (fault?.kind === "status") {
    return sendData(reply, open.finish(faultResponse(platform, fault, sim.state.now())));
  }
  if (fault?.kind === "timeout") {
    open.finish(null);
    await hang(reply, sim);
    return undefined;
  }
  if (fault?.kind === "latency") await delay(fault.ms, sim.closing);

  const parts = parseBatch(request.headers["content-type"], request.body);
  if (typeof parts === "string") return sendData(reply, open.finish(badRequest(platform, parts)));

  const responses = await Promise.all(
    parts.map((part): Promise<DataResponse | null> => {
      const found = part.method === "GET" ? findTarget(batch.targets, `${batch.prefix}${part.url}`) : null;
      if (found === null) return Promise.resolve(platformError(platform, 404));
      return callData(sim, found.target.endpoint, {
        url: found.url,
        params: found.params,
        headers: {
          authorization: part.headers.authorization ?? request.headers.authorization,
          "if-none-match": part.headers["if-none-match"] ?? request.headers["if-none-match"],
        },
        request,
      });
    }),
  );
  // One call that never answers (a `timeout` fault) leaves the whole batch unanswered.
  if (responses.includes(null)) {
    open.finish(null);
    await hang(reply, sim);
    return undefined;
  }

  const boundary = `batch_${randomUUID()}`;
  let text = batchAnswer(boundary, parts, responses as DataResponse[]);
  // A truncated read: the parts were answered, the client gets only half of the text.
  if (fault?.kind === "malformed") text = text.slice(0, Math.floor(text.length / 2));
  open.finish({ status: 200, error: null });
  return reply.code(200).type(`multipart/mixed; boundary=${boundary}`).send(text);
}

/** The multipart answer: for each call its status line, headers and JSON body, as Google writes it. */
function batchAnswer(
  boundary: string,
  parts: readonly BatchPart[],
  responses: readonly DataResponse[],
): string {
  let out = "";
  for (const [i, response] of responses.entries()) {
    const contentId = (parts[i] as BatchPart).contentId;
    out += `--${boundary}\r\nContent-Type: application/http\r\n`;
    if (contentId !== null) out += `Content-ID: <response-${contentId}>\r\n`;
    out += `\r\nHTTP/1.1 ${response.status} ${STATUS_CODES[response.status] ?? ""}\r\n`;
    for (const [name, value] of Object.entries(response.headers ?? {})) out += `${name}: ${value}\r\n`;
    if (response.body === undefined) out += "\r\n\r\n";
    else out += `Content-Type: application/json; charset=UTF-8\r\n\r\n${dataBodyText(response)}\r\n`;
  }
  return `${out}--${boundary}--\r\n`;
}

// --- the request body ------------------------------------------------------------------------

/** The calls of a batch request, or why it is not one (for a 400). */
function parseBatch(contentType: string | undefined, body: unknown): BatchPart[] | string {
  const boundary = /^\s*multipart\/mixed\s*;(?:.*;)?\s*boundary=(?:"([^"]+)"|([^\s;]+))/i.exec(
    contentType ?? "",
  );
  if (boundary === null)
    return "Failed to parse batch request: Content-Type must be multipart/mixed with a boundary";
  if (typeof body !== "string" || body === "") return "Failed to parse batch request: the body is empty";
  const texts = splitMultipart(body, (boundary[1] ?? boundary[2]) as string);
  if (typeof texts === "string") return `Failed to parse batch request: ${texts}`;
  if (texts.length === 0) return "Failed to parse batch request: the batch holds no requests";
  if (texts.length > MAX_BATCH_CALLS) return `Too many requests in a batch: at most ${MAX_BATCH_CALLS}`;
  const parts: BatchPart[] = [];
  for (const [i, text] of texts.entries()) {
    const part = parsePart(text);
    if (typeof part === "string") return `Failed to parse batch request, part ${i + 1}: ${part}`;
    parts.push(part);
  }
  return parts;
}

/** The texts between the delimiters of a multipart body (RFC 2046 §5.1.1), CRLF or LF line ends. */
function splitMultipart(body: string, boundary: string): string[] | string {
  const delimiter = `--${boundary}`;
  // A delimiter starts a line and is followed by `--`, padding or the line's end.
  const at = (from: number): number => {
    for (let i = body.indexOf(delimiter, from); i !== -1; i = body.indexOf(delimiter, i + 1)) {
      const after = body.charAt(i + delimiter.length);
      if ((i === 0 || body[i - 1] === "\n") && (after === "" || "-\r\n \t".includes(after))) return i;
    }
    return -1;
  };
  const texts: string[] = [];
  let start = at(0);
  if (start === -1) return "no boundary delimiter in the body";
  for (;;) {
    const lineEnd = start + delimiter.length;
    if (body.startsWith("--", lineEnd)) return texts;
    const eol = body.indexOf("\n", lineEnd);
    if (eol === -1) return "the body ends inside a boundary line";
    const next = at(eol + 1);
    if (next === -1) return "no closing boundary delimiter";
    // The line break before a delimiter belongs to the delimiter.
    let end = next;
    if (body[end - 1] === "\n") end -= 1;
    if (body[end - 1] === "\r") end -= 1;
    texts.push(body.slice(eol + 1, Math.max(eol + 1, end)));
    start = next;
  }
}

/** Header lines (lower-case names) and what follows the first blank line. */
function splitHead(text: string): { lines: string[]; rest: string } {
  const empty = /^\r?\n/.exec(text);
  if (empty !== null) return { lines: [], rest: text.slice(empty[0].length) };
  const blank = /\r?\n\r?\n/.exec(text);
  const head = blank === null ? text : text.slice(0, blank.index);
  return {
    lines: head.split(/\r?\n/),
    rest: blank === null ? "" : text.slice(blank.index + blank[0].length),
  };
}

function parseHeaders(lines: readonly string[]): Record<string, string> | string {
  const headers: Record<string, string> = {};
  for (const line of lines) {
    if (line === "") continue;
    const colon = line.indexOf(":");
    if (colon <= 0) return `not a header line: ${JSON.stringify(line.slice(0, 80))}`;
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return headers;
}

function parsePart(text: string): BatchPart | string {
  const outer = splitHead(text);
  const headers = parseHeaders(outer.lines);
  if (typeof headers === "string") return headers;
  if (!/^application\/http\b/i.test(headers["content-type"] ?? ""))
    return "Content-Type must be application/http";
  const inner = splitHead(outer.rest);
  const [requestLine = "", ...headerLines] = inner.lines;
  const line = /^([A-Z]+) (\/\S*)(?: HTTP\/\d(?:\.\d)?)?$/.exec(requestLine.trim());
  if (line === null) return `not a request line: ${JSON.stringify(requestLine.slice(0, 80))}`;
  const own = parseHeaders(headerLines);
  if (typeof own === "string") return own;
  const contentId = headers["content-id"];
  return {
    contentId: contentId === undefined ? null : contentId.replace(/^<(.*)>$/, "$1"),
    method: line[1] as string,
    url: line[2] as string,
    headers: own,
  };
}

// --- routing a part to an endpoint -------------------------------------------------------------

/** A Fastify path (`/gmail/gmail/v1/users/:userId/messages/:id`) as a pattern capturing its parameters. */
function compilePath(url: string): { pattern: RegExp; names: string[] } {
  const names: string[] = [];
  const source = url
    .split("/")
    .map((segment) => {
      if (!segment.startsWith(":")) return segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      names.push(segment.slice(1));
      return "([^/]+)";
    })
    .join("/");
  return { pattern: new RegExp(`^${source}$`), names };
}

function findTarget(
  targets: readonly Target[],
  url: string,
): { target: Target; url: string; params: Record<string, string> } | null {
  const q = url.indexOf("?");
  const path = q === -1 ? url : url.slice(0, q);
  for (const target of targets) {
    const match = target.pattern.exec(path);
    if (match === null) continue;
    const params: Record<string, string> = {};
    try {
      for (const [i, name] of target.names.entries())
        params[name] = decodeURIComponent(match[i + 1] as string);
    } catch {
      return null; // a broken %-escape: no endpoint has that path
    }
    return { target, url, params };
  }
  return null;
}
