import { performance } from "node:perf_hooks";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { delay, hang, type SimulatorContext } from "../context.ts";
import { defaultErrorCode, type Fault, retryAfterHeader } from "../faults.ts";
import { type ClientAuthMethod, type ProviderId, providerIds, providers } from "../providers.ts";
import type { RequestLogEntry, SimulatorState } from "../state.ts";

/** A 200 whose body is cut off mid-string: what a crashing proxy or a truncated read looks like. */
const MALFORMED_BODY = '{"access_token":"sim-truncated","token_type":"Bear';

type Credentials = { method: ClientAuthMethod; clientId: string; clientSecret: string };
type LogFields = Omit<RequestLogEntry, "seq" | "time" | "status" | "error" | "durationMs">;

/** `POST /<provider>/oauth/token` for every provider: the RFC 6749 §6 refresh grant. */
export function tokenRoute(app: FastifyInstance, ctx: SimulatorContext): void {
  for (const provider of providerIds) {
    app.post(`/${provider}/oauth/token`, (request, reply) =>
      handleTokenRequest(ctx, provider, request, reply),
    );
  }
}

/**
 * What the endpoint decided to answer. Deciding (which commits a rotation) and delivering are
 * apart so that faults can lose or delay an answer the provider has already committed to.
 */
type TokenAnswer = {
  status: number;
  /** The OAuth error code, for the log; null on success. */
  error: string | null;
  headers: Record<string, string>;
  /** JSON, or raw text (fault `malformed`). */
  body: Record<string, string | number> | string;
};

type TokenRequest = {
  provider: ProviderId;
  params: URLSearchParams | null;
  basic: BasicAuth | null;
  refreshToken: string | null;
};

/** Logs the request as it ended: the status answered, or null when no answer reached the client. */
type RecordAnswer = (status: number | null, error: string | null) => void;

async function handleTokenRequest(
  ctx: SimulatorContext,
  provider: ProviderId,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<FastifyReply | undefined> {
  const { state } = ctx;
  const startedAt = state.now();
  const started = performance.now();
  const params = request.body instanceof URLSearchParams ? request.body : null;
  const basic = parseBasicAuth(request.headers.authorization);
  const req: TokenRequest = { provider, params, basic, refreshToken: params?.get("refresh_token") ?? null };
  const known = req.refreshToken === null ? null : state.peekRefreshToken(req.refreshToken);
  const grant = known !== null && known.provider === provider ? known : null;

  const log: LogFields = {
    endpoint: "token",
    provider,
    resource: null,
    path: null,
    grantId: grant?.grantId ?? null,
    connectionKey: grant?.connectionKey ?? null,
    clientId: basic?.clientId ?? params?.get("client_id") ?? null,
    fault: null,
    reusedRefreshToken: grant?.used ?? false,
    rotated: false,
  };
  const record: RecordAnswer = (status, error) => {
    state.recordRequest(startedAt, { ...log, status, error, durationMs: performance.now() - started });
  };

  const fault = state.takeFault({
    endpoint: "token",
    provider,
    connectionKey: grant?.connectionKey ?? null,
    refreshToken: req.refreshToken,
    resource: null,
    path: null,
  });
  log.fault = fault?.kind ?? null;
  if (fault?.kind === "timeout") {
    record(null, null);
    await hang(reply, ctx);
    return undefined;
  }
  if (fault?.kind === "latency") await delay(fault.ms, ctx.closing);
  const answer = faultAnswer(fault) ?? refreshAnswer(state, req, fault?.kind === "no_refresh_token", log);
  return deliver(ctx, reply, answer, fault, record);
}

/** Faults that answer in the provider's place, leaving the grant untouched. */
function faultAnswer(fault: Fault | null): TokenAnswer | null {
  if (fault?.kind === "status") {
    const error = fault.error ?? defaultErrorCode(fault.status);
    const headers: Record<string, string> =
      fault.retryAfter === undefined ? {} : { "retry-after": retryAfterHeader(fault.retryAfter) };
    return oauthError(
      fault.status,
      error,
      fault.errorDescription ?? `Simulated ${fault.status} (${error}).`,
      headers,
    );
  }
  if (fault?.kind === "malformed") {
    return {
      status: 200,
      error: null,
      headers: { "content-type": "application/json" },
      body: MALFORMED_BODY,
    };
  }
  return null;
}

/**
 * Sends the answer, unless a fault loses or delays it. Both `late_answer` and `drop_after_rotate`
 * act after the refresh has been committed: the case where a client can lose a rotated token.
 */
async function deliver(
  ctx: SimulatorContext,
  reply: FastifyReply,
  answer: TokenAnswer,
  fault: Fault | null,
  record: RecordAnswer,
): Promise<FastifyReply | undefined> {
  if (fault?.kind === "drop_after_rotate") {
    // A reset (RST), not a clean close: what a crashed proxy or a cut network leaves, where the
    // client cannot tell whether the provider committed.
    record(null, answer.error);
    reply.hijack();
    reply.raw.socket?.resetAndDestroy();
    return undefined;
  }
  if (fault?.kind === "late_answer") {
    await delay(fault.ms, ctx.closing);
    const socket = reply.raw.socket;
    if (reply.raw.destroyed || socket === null || socket.destroyed) {
      // The client gave up meanwhile: the rotation stands and the new refresh token is lost with
      // the answer, as at a real provider. There is nobody left to answer.
      record(null, answer.error);
      reply.hijack();
      socket?.destroy();
      return undefined;
    }
  }
  record(answer.status, answer.error);
  return reply.code(answer.status).headers(answer.headers).send(answer.body);
}

function oauthError(
  status: number,
  error: string,
  description: string,
  headers: Record<string, string> = {},
): TokenAnswer {
  return {
    status,
    error,
    headers: { ...headers, "cache-control": "no-store" },
    body: { error, error_description: description },
  };
}

/** RFC 6749 §6 with the errors of §5.2: rate limit, form, client authentication, then the refresh. */
function refreshAnswer(
  state: SimulatorState,
  req: TokenRequest,
  withholdRefreshToken: boolean,
  log: LogFields,
): TokenAnswer {
  const limit = state.takeRateLimit(req.provider, log.clientId);
  if (!limit.ok) {
    return oauthError(429, "rate_limit_exceeded", "Too many requests for this client.", {
      "retry-after": String(limit.retryAfterSeconds),
    });
  }
  const { params, refreshToken } = req;
  if (params === null) {
    return oauthError(400, "invalid_request", "Expected an application/x-www-form-urlencoded body.");
  }
  const formProblem = checkForm(params);
  if (formProblem !== null) return formProblem;
  const clientId = authenticateClient(state, req.provider, req.basic, params);
  if (typeof clientId !== "string") return clientId;
  if (refreshToken === null || refreshToken === "") {
    return oauthError(400, "invalid_request", "Missing refresh_token.");
  }

  const result = state.refresh({
    provider: req.provider,
    clientId,
    refreshToken,
    scope: params.get("scope") ?? undefined,
    withholdRefreshToken,
  });
  if (!result.ok) {
    log.reusedRefreshToken = result.reused;
    return oauthError(400, result.error, result.description);
  }
  log.rotated = result.refreshToken !== null;
  const spec = providers[req.provider];
  const body: Record<string, string | number> = {
    access_token: result.accessToken,
    token_type: "Bearer",
    expires_in: result.expiresIn,
    scope: result.scopes.join(spec.scopeSeparator),
  };
  if (result.refreshToken !== null) body.refresh_token = result.refreshToken;
  if (spec.refreshTokenExpiresIn !== undefined) body.refresh_token_expires_in = spec.refreshTokenExpiresIn;
  return { status: 200, error: null, headers: { "cache-control": "no-store", pragma: "no-cache" }, body };
}

function checkForm(params: URLSearchParams): TokenAnswer | null {
  // RFC 6749 §3.2: parameters must not repeat.
  for (const name of new Set(params.keys())) {
    if (params.getAll(name).length > 1)
      return oauthError(400, "invalid_request", `Repeated parameter: ${name}.`);
  }
  const grantType = params.get("grant_type");
  if (grantType === null) return oauthError(400, "invalid_request", "Missing grant_type.");
  if (grantType !== "refresh_token") {
    return oauthError(400, "unsupported_grant_type", `Unsupported grant_type: ${grantType}.`);
  }
  return null;
}

/** The authenticated client's id, or the error to answer. */
function authenticateClient(
  state: SimulatorState,
  provider: ProviderId,
  basic: BasicAuth | null,
  params: URLSearchParams,
): string | TokenAnswer {
  const credentials = resolveCredentials(basic, params);
  if ("error" in credentials) {
    return oauthError(credentials.status, credentials.error, credentials.description);
  }
  // RFC 6749 §5.2: a failed Basic authentication answers 401 with a challenge.
  const challenge: Record<string, string> =
    credentials.method === "client_secret_basic" ? { "www-authenticate": `Basic realm="${provider}"` } : {};
  if (!providers[provider].authMethods.includes(credentials.method)) {
    return oauthError(401, "invalid_client", `${provider} does not accept ${credentials.method}.`, challenge);
  }
  const auth = state.authenticateClient(provider, credentials.clientId, credentials.clientSecret);
  if (!auth.ok)
    return oauthError(auth.status, auth.error, auth.description, auth.status === 401 ? challenge : {});
  return credentials.clientId;
}

type BasicAuth = { clientId: string; clientSecret: string } | { malformed: true; clientId: null };

/** RFC 6749 §2.3.1: id and secret are form-urlencoded before being put into Basic credentials. */
function parseBasicAuth(header: string | undefined): BasicAuth | null {
  if (header === undefined) return null;
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (match === null) return { malformed: true, clientId: null };
  const decoded = Buffer.from(match[1] ?? "", "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon === -1) return { malformed: true, clientId: null };
  try {
    return {
      clientId: decodeURIComponent(decoded.slice(0, colon).replaceAll("+", " ")),
      clientSecret: decodeURIComponent(decoded.slice(colon + 1).replaceAll("+", " ")),
    };
  } catch {
    return { malformed: true, clientId: null };
  }
}

function resolveCredentials(
  basic: BasicAuth | null,
  params: URLSearchParams,
): Credentials | { error: string; status: number; description: string } {
  const bodyId = params.get("client_id");
  const bodySecret = params.get("client_secret");
  if (basic !== null) {
    if ("malformed" in basic) {
      return { status: 401, error: "invalid_client", description: "Malformed Basic credentials." };
    }
    if (bodySecret !== null) {
      return {
        status: 400,
        error: "invalid_request",
        description: "More than one client authentication method was used.",
      };
    }
    if (bodyId !== null && bodyId !== basic.clientId) {
      return {
        status: 400,
        error: "invalid_request",
        description: "client_id does not match the Basic credentials.",
      };
    }
    return { method: "client_secret_basic", clientId: basic.clientId, clientSecret: basic.clientSecret };
  }
  if (bodyId !== null && bodySecret !== null) {
    return { method: "client_secret_post", clientId: bodyId, clientSecret: bodySecret };
  }
  return { status: 401, error: "invalid_client", description: "Client authentication is required." };
}
