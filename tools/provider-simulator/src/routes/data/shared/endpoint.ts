import { createHash } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
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
  /** The HTTP request that carried the call (for a part of a batch: the batch request). */
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

/** A registered data route that also tells which endpoint it serves (a batch route dispatches to it). */
export type DataRoute = RouteRegistration & { readonly endpoint: DataEndpoint };

/** One call of a data endpoint: a request of its own, or one part of a batch request. */
export type DataCall = {
  /** Simulator path and query, e.g. `/gmail/gmail/v1/users/me/messages/1a2b?format=metadata`. */
  url: string;
  /** The path parameters of the endpoint's `url`. */
  params: Record<string, string>;
  headers: Pick<IncomingHttpHeaders, "authorization" | "if-none-match">;
  request: FastifyRequest;
};

type LogFields = Omit<RequestLogEntry, "seq" | "time" | "status" | "error" | "durationMs">;

/**
 * One GET data endpoint: bearer auth (a 401 in the platform's words), scripted faults, the
 * scope check, the handler, conditional requests, the per-provider data rate limit, and one
 * request-log entry per request.
 */
export function dataRoute(endpoint: DataEndpoint): DataRoute {
  const register: RouteRegistration = (app, sim) => {
    app.get(endpoint.url, async (request, reply) => {
      const response = await callData(sim, endpoint, {
        url: request.url,
        params: request.params as Record<string, string>,
        headers: request.headers,
        request,
      });
      if (response === null) {
        await hang(reply, sim);
        return undefined;
      }
      return sendData(reply, response);
    });
  };
  return Object.assign(register, { endpoint });
}

/** Writes a data response: its status, headers and JSON body. */
export function sendData(reply: FastifyReply, response: DataResponse): FastifyReply {
  reply.code(response.status);
  for (const [name, value] of Object.entries(response.headers ?? {})) reply.header(name, value);
  if (response.body === undefined) return reply.send();
  return reply.type("application/json; charset=utf-8").send(dataBodyText(response));
}

/** The JSON text of a response body (handlers may hand over text already serialised). */
export function dataBodyText(response: DataResponse): string {
  return typeof response.body === "string" ? response.body : JSON.stringify(response.body);
}

/** A data call under way: who is calling, its scripted fault, and its entry in the request log. */
export type OpenDataCall = {
  /** The token's grant, if the token is valid and of a provider the platform takes. */
  grant: AccessTokenInfo | null;
  /** Why there is no grant (for the 401's wording). */
  problem: AccessTokenProblem | "missing";
  /** The scripted fault this call takes (already noted in its log entry), if any. */
  fault: Fault | null;
  /** When the call started, on the simulator's clock. */
  startedAt: number;
  /** Logs the call with its answer (null: never answered) and hands the answer back. */
  finish<R extends DataResponse | null>(response: R): R;
};

/**
 * Starts a data call: checks the bearer token, takes the first matching scripted fault and
 * prepares the call's request-log entry, written by `finish`.
 */
export function openDataCall(
  state: SimulatorState,
  call: { platform: DataPlatform; resource: string; path: string; authorization: string | undefined },
): OpenDataCall {
  const startedAt = state.now();
  const started = performance.now();
  const bearer = parseBearer(call.authorization, call.platform === "github");
  const check = bearer === null ? null : state.inspectAccessToken(bearer);
  const accepted = platformProviders[call.platform];
  // Another platform's token is as unknown here as a made-up one.
  const grant = check?.ok === true && accepted.includes(check.info.provider) ? check.info : null;
  const log: LogFields = {
    endpoint: "data",
    provider: grant?.provider ?? (accepted[0] as string),
    resource: call.resource,
    path: call.path,
    grantId: grant?.grantId ?? null,
    connectionKey: grant?.connectionKey ?? null,
    clientId: grant?.clientId ?? null,
    fault: null,
    reusedRefreshToken: false,
    rotated: false,
  };
  const fault = state.takeFault({
    endpoint: "data",
    provider: log.provider,
    connectionKey: log.connectionKey,
    refreshToken: null,
    resource: call.resource,
    path: call.path,
  });
  log.fault = fault?.kind ?? null;
  return {
    grant,
    problem: check === null ? "missing" : check.ok ? "unknown" : check.problem,
    fault,
    startedAt,
    finish(response) {
      state.recordRequest(startedAt, {
        ...log,
        status: response?.status ?? null,
        error: response === null ? null : (response.error ?? null),
        durationMs: response === null ? 0 : performance.now() - started,
      });
      return response;
    },
  };
}

/**
 * Runs one call through the whole pipeline (auth, faults, scopes, handler, ETag, rate limit) and
 * logs it. Resolves to what to answer, or to null for a `timeout` fault: the call is never answered.
 */
export async function callData(
  sim: SimulatorContext,
  endpoint: DataEndpoint,
  call: DataCall,
): Promise<DataResponse | null> {
  const { state } = sim;
  const { platform } = endpoint;
  const q = call.url.indexOf("?");
  const path = q === -1 ? call.url : call.url.slice(0, q);
  const open = openDataCall(state, {
    platform,
    resource: endpoint.resource,
    path,
    authorization: call.headers.authorization,
  });
  const { grant, fault } = open;
  const answer = open.finish;

  if (fault !== null) {
    switch (fault.kind) {
      case "status":
        return answer(faultResponse(platform, fault, state.now()));
      case "timeout":
        return answer(null);
      case "malformed":
        return answer({ status: 200, body: MALFORMED_BODY });
      case "latency":
        await delay(fault.ms, sim.closing);
        break;
      // Token-only and email-only kinds: the control API refuses them for data requests.
      case "no_refresh_token":
      case "late_answer":
      case "drop_after_rotate":
      case "drop_after_send":
        break;
    }
  }

  if (grant === null) return answer(platformError(platform, 401, { problem: open.problem }));
  if (endpoint.scopes !== undefined && !endpoint.scopes.some((scope) => grant.scopes.includes(scope))) {
    return answer(insufficientScope(platform));
  }

  const limited = (): DataResponse | null => {
    const decision = state.takeDataRateLimit(grant.provider);
    if (decision.ok) return null;
    const error = platformError(platform, 429, { retryAfterSeconds: decision.retryAfterSeconds });
    return answer({
      ...error,
      headers: { ...error.headers, "retry-after": String(decision.retryAfterSeconds) },
    });
  };

  const response = endpoint.handle({
    request: call.request,
    query: new URLSearchParams(q === -1 ? "" : call.url.slice(q + 1)),
    params: call.params,
    grant,
    account: state.data.account(grant.provider, grant.connectionKey),
    state,
    now: open.startedAt,
  });

  if (endpoint.etag === true && response.status === 200 && response.body !== undefined) {
    const text = JSON.stringify(response.body);
    const etag = `W/"${createHash("md5").update(text).digest("hex")}"`;
    const headers = { ...response.headers, etag };
    if (matchesEtag(call.headers["if-none-match"], etag)) {
      // GitHub: a conditional request answered 304 does not count against the rate limit.
      return answer({ status: 304, headers, error: null });
    }
    return limited() ?? answer({ ...response, body: text, headers });
  }
  return limited() ?? answer(response);
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

export function faultResponse(
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
