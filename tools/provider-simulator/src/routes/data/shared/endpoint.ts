import { createHash } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { FastifyReply, FastifyRequest } from "fastify";
import { delay, hang, type SimulatorContext } from "../../../context.ts";
import type { Account } from "../../../data/account.ts";
import { type DataPlatform, platformProviders } from "../../../data/dataset.ts";
import { type Fault, retryAfterHeader } from "../../../faults.ts";
import type { AccessTokenInfo, AccessTokenProblem } from "../../../grants.ts";
import type { RequestLogEntry, SimulatorState } from "../../../state.ts";
import type { RouteRegistration } from "../../index.ts";
import { type DataResponse, platformError } from "./errors.ts";

/** A 200 whose JSON is cut off: what a crashing proxy or a truncated read looks like. */
const MALFORMED_BODY = '{"items":[{"id":"sim-truncated","kind":"sim#trunc';

/** What a data handler gets: the authenticated grant, its account, the parsed query. */
export type DataContext = {
  request: FastifyRequest;
  /** Repeated parameters are kept (Gmail's `metadataHeaders=From&metadataHeaders=To`). */
  query: URLSearchParams;
  params: Record<string, string>;
  grant: AccessTokenInfo;
  account: Account;
  state: SimulatorState;
  now: number;
};

export type DataEndpoint = {
  platform: DataPlatform;
  /** `<platform>.<resource>` for the request log and fault matching. */
  resource: string;
  /** Fastify path, e.g. `/gmail/gmail/v1/users/:userId/messages`. */
  url: string;
  /** Any one of these scopes is enough; absent = the platform checks none for this endpoint. */
  scopes?: readonly string[];
  /** GitHub semantics: an ETag on every 200; `If-None-Match` that still matches → 304, free of rate limit. */
  etag?: boolean;
  handle(ctx: DataContext): DataResponse;
};

type LogFields = Omit<RequestLogEntry, "seq" | "time" | "status" | "error" | "durationMs">;

/**
 * One GET data endpoint: bearer auth (a 401 in the platform's words), scripted faults, the
 * scope check, the handler, conditional requests, the per-provider data rate limit, and one
 * request-log entry per request.
 */
export function dataRoute(endpoint: DataEndpoint): RouteRegistration {
  return (app, sim) => {
    app.get(endpoint.url, (request, reply) => handleData(sim, endpoint, request, reply));
  };
}

async function handleData(
  sim: SimulatorContext,
  endpoint: DataEndpoint,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<FastifyReply | undefined> {
  const { state } = sim;
  const { platform } = endpoint;
  const startedAt = state.now();
  const started = performance.now();
  const q = request.url.indexOf("?");
  const path = q === -1 ? request.url : request.url.slice(0, q);

  const bearer = parseBearer(request.headers.authorization, platform === "github");
  const check = bearer === null ? null : state.inspectAccessToken(bearer);
  const accepted = platformProviders[platform];
  // Another platform's token is as unknown here as a made-up one.
  const grant = check?.ok === true && accepted.includes(check.info.provider) ? check.info : null;
  const problem: AccessTokenProblem | "missing" =
    check === null ? "missing" : check.ok ? "unknown" : check.problem;

  const log: LogFields = {
    endpoint: "data",
    provider: grant?.provider ?? (accepted[0] as string),
    resource: endpoint.resource,
    path,
    grantId: grant?.grantId ?? null,
    connectionKey: grant?.connectionKey ?? null,
    clientId: grant?.clientId ?? null,
    fault: null,
    reusedRefreshToken: false,
    rotated: false,
  };
  const send = (response: DataResponse): FastifyReply => {
    state.recordRequest({
      ...log,
      status: response.status,
      error: response.error ?? null,
      durationMs: performance.now() - started,
      startedAt,
    });
    reply.code(response.status);
    for (const [name, value] of Object.entries(response.headers ?? {})) reply.header(name, value);
    if (response.body === undefined) return reply.send();
    const text = typeof response.body === "string" ? response.body : JSON.stringify(response.body);
    return reply.type("application/json; charset=utf-8").send(text);
  };

  const fault = state.takeFault({
    endpoint: "data",
    provider: log.provider,
    connectionKey: grant?.connectionKey ?? null,
    refreshToken: null,
    resource: endpoint.resource,
    path,
  });
  if (fault !== null) {
    log.fault = fault.kind;
    switch (fault.kind) {
      case "status":
        return send(faultResponse(platform, fault, state.now()));
      case "timeout":
        state.recordRequest({ ...log, status: null, error: null, durationMs: 0, startedAt });
        await hang(reply, sim);
        return undefined;
      case "malformed":
        return send({ status: 200, body: MALFORMED_BODY });
      case "latency":
        await delay(fault.ms, sim.closing);
        break;
      case "no_refresh_token":
        break;
    }
  }

  if (grant === null) return send(platformError(platform, 401, { problem }));
  if (endpoint.scopes !== undefined && !endpoint.scopes.some((scope) => grant.scopes.includes(scope))) {
    return send(insufficientScope(platform));
  }

  const limited = (): FastifyReply | null => {
    const decision = state.takeDataRateLimit(grant.provider);
    if (decision.ok) return null;
    const error = platformError(platform, 429, { retryAfterSeconds: decision.retryAfterSeconds });
    return send({
      ...error,
      headers: { ...error.headers, "retry-after": String(decision.retryAfterSeconds) },
    });
  };

  const response = endpoint.handle({
    request,
    query: new URLSearchParams(q === -1 ? "" : request.url.slice(q + 1)),
    params: request.params as Record<string, string>,
    grant,
    account: state.data.account(grant.provider, grant.connectionKey),
    state,
    now: startedAt,
  });

  if (endpoint.etag === true && response.status === 200 && response.body !== undefined) {
    const text = JSON.stringify(response.body);
    const etag = `W/"${createHash("md5").update(text).digest("hex")}"`;
    const headers = { ...response.headers, etag };
    if (matchesEtag(request.headers["if-none-match"], etag)) {
      // GitHub: a conditional request answered 304 does not count against the rate limit.
      return send({ status: 304, headers, error: null });
    }
    return limited() ?? send({ ...response, body: text, headers });
  }
  return limited() ?? send(response);
}
/** `Bearer <token>`; GitHub also takes its older `token <token>` scheme. */
function parseBearer(header: string | undefined, allowTokenScheme: boolean): string | null {
  if (header === undefined) return null;
  const match = (allowTokenScheme ? /^(?:Bearer|token)\s+(\S+)\s*$/i : /^Bearer\s+(\S+)\s*$/i).exec(header);
  return match?.[1] ?? null;
}

/** RFC 9110 §13.1.2: If-None-Match compares weakly; `*` matches any current representation. */
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const opaque = (tag: string): string => tag.trim().replace(/^W\//, "");
  const current = opaque(etag);
  return header.split(",").some((tag) => tag.trim() === "*" || opaque(tag) === current);
}

function faultResponse(
  platform: DataPlatform,
  fault: Extract<Fault, { kind: "status" }>,
  now: number,
): DataResponse {
  const retryAfter = fault.retryAfter === undefined ? undefined : retryAfterHeader(fault.retryAfter);
  const retryAfterSeconds =
    retryAfter === undefined
      ? undefined
      : /^\d+$/.test(retryAfter)
        ? Number(retryAfter)
        : Math.max(0, Math.ceil((Date.parse(retryAfter) - now) / 1000));
  const response = platformError(platform, fault.status, {
    reason: fault.error,
    message: fault.errorDescription,
    retryAfterSeconds,
    problem: fault.status === 401 ? "expired" : undefined,
  });
  if (retryAfter === undefined) return response;
  return { ...response, headers: { ...response.headers, "retry-after": retryAfter } };
}

function insufficientScope(platform: DataPlatform): DataResponse {
  switch (platform) {
    case "gmail":
    case "calendar":
    case "youtube":
      return platformError(platform, 403, {
        reason: "insufficientPermissions",
        message: "Request had insufficient authentication scopes.",
      });
    default:
      return platformError(platform, 403, { reason: "insufficient_scope" });
  }
}
