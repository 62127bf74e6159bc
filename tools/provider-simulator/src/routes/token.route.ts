import { performance } from "node:perf_hooks";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { delay, hang, type SimulatorContext } from "../context.ts";
import { defaultErrorCode, retryAfterHeader } from "../faults.ts";
import { type ClientAuthMethod, type ProviderId, providerIds, providers } from "../providers.ts";
import type { RequestLogEntry } from "../state.ts";

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
  const refreshToken = params?.get("refresh_token") ?? null;
  const basic = parseBasicAuth(request.headers.authorization);
  const presentedClientId = basic?.clientId ?? params?.get("client_id") ?? null;
  const known = refreshToken === null ? null : state.peekRefreshToken(refreshToken);
  const grant = known !== null && known.provider === provider ? known : null;

  const log: LogFields = {
    endpoint: "token",
    provider,
    resource: null,
    path: null,
    grantId: grant?.grantId ?? null,
    connectionKey: grant?.connectionKey ?? null,
    clientId: presentedClientId,
    fault: null,
    reusedRefreshToken: grant?.used ?? false,
    rotated: false,
  };
  const record = (status: number | null, error: string | null): void => {
    state.recordRequest(startedAt, { ...log, status, error, durationMs: performance.now() - started });
  };
  const oauthError = (status: number, error: string, description: string): FastifyReply => {
    record(status, error);
    return reply
      .code(status)
      .header("cache-control", "no-store")
      .send({ error, error_description: description });
  };

  let withholdRefreshToken = false;
  const fault = state.takeFault({
    endpoint: "token",
    provider,
    connectionKey: grant?.connectionKey ?? null,
    refreshToken,
    resource: null,
    path: null,
  });
  if (fault !== null) {
    log.fault = fault.kind;
    switch (fault.kind) {
      case "status": {
        if (fault.retryAfter !== undefined) reply.header("retry-after", retryAfterHeader(fault.retryAfter));
        const error = fault.error ?? defaultErrorCode(fault.status);
        return oauthError(
          fault.status,
          error,
          fault.errorDescription ?? `Simulated ${fault.status} (${error}).`,
        );
      }
      case "timeout":
        record(null, null);
        await hang(reply, ctx);
        return undefined;
      case "malformed":
        record(200, null);
        return reply.code(200).type("application/json").send(MALFORMED_BODY);
      case "latency":
        await delay(fault.ms, ctx.closing);
        break;
      case "no_refresh_token":
        withholdRefreshToken = true;
        break;
    }
  }

  const limit = state.takeRateLimit(provider, presentedClientId);
  if (!limit.ok) {
    reply.header("retry-after", String(limit.retryAfterSeconds));
    return oauthError(429, "rate_limit_exceeded", "Too many requests for this client.");
  }

  if (params === null) {
    return oauthError(400, "invalid_request", "Expected an application/x-www-form-urlencoded body.");
  }
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

  const credentials = resolveCredentials(basic, params);
  if ("error" in credentials) {
    return oauthError(credentials.status, credentials.error, credentials.description);
  }
  const spec = providers[provider];
  // RFC 6749 §5.2: a failed Basic authentication answers 401 with a challenge.
  const challenge = (): void => {
    if (credentials.method === "client_secret_basic")
      reply.header("www-authenticate", `Basic realm="${provider}"`);
  };
  if (!spec.authMethods.includes(credentials.method)) {
    challenge();
    return oauthError(401, "invalid_client", `${provider} does not accept ${credentials.method}.`);
  }
  const auth = state.authenticateClient(provider, credentials.clientId, credentials.clientSecret);
  if (!auth.ok) {
    if (auth.status === 401) challenge();
    return oauthError(auth.status, auth.error, auth.description);
  }

  if (refreshToken === null || refreshToken === "") {
    return oauthError(400, "invalid_request", "Missing refresh_token.");
  }

  const result = state.refresh({
    provider,
    clientId: credentials.clientId,
    refreshToken,
    scope: params.get("scope") ?? undefined,
    withholdRefreshToken,
  });
  if (!result.ok) {
    log.reusedRefreshToken = result.reused;
    return oauthError(400, result.error, result.description);
  }

  log.rotated = result.refreshToken !== null;
  record(200, null);
  const body: Record<string, string | number> = {
    access_token: result.accessToken,
    token_type: "Bearer",
    expires_in: result.expiresIn,
    scope: result.scopes.join(spec.scopeSeparator),
  };
  if (result.refreshToken !== null) body.refresh_token = result.refreshToken;
  if (spec.refreshTokenExpiresIn !== undefined) body.refresh_token_expires_in = spec.refreshTokenExpiresIn;
  return reply.code(200).header("cache-control", "no-store").header("pragma", "no-cache").send(body);
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
