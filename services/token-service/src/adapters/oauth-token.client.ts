import { createHttpClient, HttpRequestError, parseRetryAfter, type Timeouts } from "@syncwell/http-client";
import { redactSecrets } from "@syncwell/telemetry";
import {
  allowInsecureRequests,
  ClientSecretBasic,
  ClientSecretPost,
  customFetch,
  refreshTokenGrantRequest,
  type TokenEndpointRequestOptions,
} from "oauth4webapi";
import type { ClientAuthMethod } from "../domain/providers.ts";
import type { RefreshFailure } from "../domain/refresh-outcome.ts";

/**
 * The refresh_token grant of RFC 6749 §6 over real HTTP.
 *
 * The request is built and sent by `oauth4webapi` (`refreshTokenGrantRequest`): it encodes the
 * client credentials exactly as RFC 6749 §2.3.1 says for both `client_secret_basic` (form-encoded
 * id and secret inside Basic, which hand-written clients routinely get wrong) and
 * `client_secret_post`, asks for JSON, refuses redirects and plain HTTP (allowed only for an
 * overridden token URL such as the simulator).
 *
 * The response is read here rather than by `processRefreshTokenResponse`, whose RFC strictness
 * fails on real providers: LinkedIn omits `token_type`, Slack answers `token_type: "user"`, GitHub
 * and Slack report errors with HTTP 200 (`{"error": "bad_refresh_token"}`, `{"ok": false}`), and
 * Google's `id_token` would be validated against an issuer configuration we have no use for.
 *
 * It goes over `@syncwell/http-client` (oauth4webapi's `customFetch` hook) rather than the global
 * fetch, whose web streams are a large share of a refresh run's CPU, and because that client tells
 * a request that never left from one whose answer was lost.
 *
 * Never throws for anything the network or the provider does: the answer is a result value.
 */

export type TokenEndpoint = {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  clientAuth: ClientAuthMethod;
};

export type RefreshSuccess = {
  ok: true;
  accessToken: string;
  /** Present when the provider issued a new refresh token (rotation). */
  refreshToken?: string;
  /** Seconds, as sent in `expires_in`. */
  expiresIn?: number;
  scope?: string;
};

export type RefreshResult = RefreshSuccess | ({ ok: false } & RefreshFailure);

export type RefreshOptions = {
  /** Time to connect and hand the whole request to the network; past it nothing was sent. */
  sendTimeoutMs: number;
  /**
   * Time to wait for the answer once the request is out. The provider may already have rotated the
   * refresh token, and its answer is then the only copy of the new one: this is long on purpose.
   */
  answerTimeoutMs: number;
  /** Clock for HTTP-date Retry-After values (tests). */
  now?: () => number;
};

/** Responses larger than this are not token responses (a proxy's HTML error page, for example). */
const MAX_BODY_CHARS = 64 * 1024;
const MAX_DESCRIPTION_CHARS = 500;

export async function refreshAccessToken(
  endpoint: TokenEndpoint,
  refreshToken: string,
  options: RefreshOptions,
): Promise<RefreshResult> {
  const url = new URL(endpoint.tokenUrl);
  const timeouts: Timeouts = { sendMs: options.sendTimeoutMs, answerMs: options.answerTimeoutMs };
  const requestOptions: TokenEndpointRequestOptions = {
    [customFetch]: (target: string, init: RequestInit) => sendTokenRequest(target, init, timeouts),
  };
  if (url.protocol === "http:") requestOptions[allowInsecureRequests] = true;
  const auth =
    endpoint.clientAuth === "client_secret_basic"
      ? ClientSecretBasic(endpoint.clientSecret)
      : ClientSecretPost(endpoint.clientSecret);

  let response: Response;
  let text: string;
  try {
    response = await refreshTokenGrantRequest(
      { issuer: url.origin, token_endpoint: url.href },
      { client_id: endpoint.clientId },
      auth,
      refreshToken,
      requestOptions,
    );
    text = await response.text();
  } catch (err) {
    return transportFailure(err);
  }
  const retryAfterMs = parseRetryAfter(response.headers.get("retry-after"), options.now?.() ?? Date.now());
  return readTokenResponse(response.status, text, retryAfterMs, [refreshToken, endpoint.clientSecret]);
}

/** A token endpoint's answer, any status, as a result (`secrets` are masked in what it quotes). */
function readTokenResponse(
  status: number,
  text: string,
  retryAfterMs: number | undefined,
  secrets: string[],
): RefreshResult {
  const body = parseJsonObject(text);
  if (status === 200) {
    if (body && typeof body.access_token === "string" && body.access_token.length > 0) {
      const success: RefreshSuccess = { ok: true, accessToken: body.access_token };
      if (typeof body.refresh_token === "string" && body.refresh_token.length > 0) {
        success.refreshToken = body.refresh_token;
      }
      const expiresIn = parseExpiresIn(body.expires_in);
      if (expiresIn !== undefined) success.expiresIn = expiresIn;
      if (typeof body.scope === "string") success.scope = body.scope;
      return success;
    }
    if (body && typeof body.error === "string" && body.error.length > 0) {
      return oauthError(200, body, secrets, retryAfterMs);
    }
    return { ok: false, kind: "malformed", status: 200 };
  }

  if (body && typeof body.error === "string" && body.error.length > 0) {
    return oauthError(status, body, secrets, retryAfterMs);
  }
  const failure: { ok: false } & RefreshFailure = { ok: false, kind: "http", status };
  if (retryAfterMs !== undefined) failure.retryAfterMs = retryAfterMs;
  return failure;
}

/**
 * No answer. Once the whole request was out, the provider may have acted on it and rotated the
 * refresh token, whose only copy was the lost answer; before that, it cannot have.
 */
function transportFailure(err: unknown): { ok: false } & RefreshFailure {
  const failed = err instanceof HttpRequestError ? err : undefined;
  const lost = failed?.sent ? { answerLost: true } : {};
  if (failed?.reason === "timeout") return { ok: false, kind: "timeout", ...lost };
  return { ok: false, kind: "network", errorDescription: networkDescription(err), ...lost };
}

/** One keep-alive pool for every provider's token endpoint; each request names its time limits. */
const tokenHttp = createHttpClient({
  timeouts: { sendMs: 10_000, answerMs: 60_000 },
  // A token response is far smaller; anything this large is not one (see MAX_BODY_CHARS).
  maxBodyBytes: MAX_BODY_CHARS * 4,
});

/** Statuses whose Response may not have a body. */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/** The part of fetch oauth4webapi uses: one POST, its answer buffered (bounded) into a Response. */
async function sendTokenRequest(url: string, init: RequestInit, timeouts: Timeouts): Promise<Response> {
  const response = await tokenHttp.request(new URL(url), {
    method: init.method === "GET" ? "GET" : "POST",
    headers: Object.fromEntries(new Headers(init.headers).entries()),
    ...(init.body === undefined || init.body === null ? {} : { body: String(init.body) }),
    timeouts,
  });
  return new Response(NULL_BODY.has(response.status) ? null : response.text, {
    status: response.status,
    headers: response.headers,
  });
}

function oauthError(
  status: number,
  body: Record<string, unknown>,
  secrets: string[],
  retryAfterMs: number | undefined,
): { ok: false } & RefreshFailure {
  const failure: { ok: false } & RefreshFailure = {
    ok: false,
    kind: "oauth_error",
    status,
    error: String(body.error).slice(0, 100),
  };
  if (typeof body.error_description === "string" && body.error_description.trim() !== "") {
    failure.errorDescription = maskTokens(body.error_description, secrets);
  }
  if (retryAfterMs !== undefined) failure.retryAfterMs = retryAfterMs;
  return failure;
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  if (text.length === 0 || text.length > MAX_BODY_CHARS) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function parseExpiresIn(value: unknown): number | undefined {
  const n = typeof value === "string" && /^\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : value;
  return typeof n === "number" && Number.isFinite(n) && n > 0 ? Math.floor(n) : undefined;
}

/**
 * What went wrong, without the message (which may hold the URL): the system error code
 * (ECONNREFUSED, ENOTFOUND, ECONNRESET …), else the client's reason (body_too_large …).
 */
function networkDescription(err: unknown): string {
  if (err instanceof HttpRequestError) return err.code ?? err.reason;
  const e = err as { code?: unknown; cause?: { code?: unknown } } | undefined;
  const code =
    typeof e?.code === "string" ? e.code : typeof e?.cause?.code === "string" ? e.cause.code : undefined;
  return code ?? (err instanceof Error ? err.name : "network error");
}

/** Long runs of token alphabet with both letters and digits: what an opaque token looks like. */
const TOKEN_LIKE = /[A-Za-z0-9_-]{20,}/g;

/**
 * Masks tokens in a provider's free text (error descriptions sometimes quote the refresh token
 * they reject): the known secrets of the request, then anything credential-shaped, then bounds the
 * length. The result may go into logs, events and the database.
 */
export function maskTokens(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length >= 4) out = out.split(secret).join("[redacted]");
  }
  out = redactSecrets(out).replace(TOKEN_LIKE, (run) =>
    /[0-9]/.test(run) && /[A-Za-z]/.test(run) ? "[redacted]" : run,
  );
  out = out.replace(/\s+/g, " ").trim();
  return out.length > MAX_DESCRIPTION_CHARS ? `${out.slice(0, MAX_DESCRIPTION_CHARS - 1)}…` : out;
}
