import http from "node:http";
import https from "node:https";
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
 * It goes over `node:http(s)` with keep-alive agents (oauth4webapi's `customFetch` hook) rather
 * than the global fetch: under a refresh run the fetch machinery (undici plus web streams) was a
 * fifth of the service's CPU, the largest single item; `http.request` does the same for a fraction.
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
  const secrets = [refreshToken, endpoint.clientSecret];
  const exchange = new Exchange(options);
  const url = new URL(endpoint.tokenUrl);
  const requestOptions: TokenEndpointRequestOptions = {
    [customFetch]: (target: string, init: RequestInit) => nodeFetch(target, init, exchange),
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
    // Once the request is out, a missing answer may hide a rotation the provider completed.
    const lost = exchange.sent ? { answerLost: true } : {};
    if (exchange.timedOut) return { ok: false, kind: "timeout", ...lost };
    return { ok: false, kind: "network", errorDescription: networkDescription(err), ...lost };
  } finally {
    exchange.done();
  }

  const retryAfterMs = parseRetryAfter(response.headers.get("retry-after"), options.now?.() ?? Date.now());
  const body = parseJsonObject(text);

  if (response.status === 200) {
    if (body && typeof body.access_token === "string" && body.access_token.length > 0) {
      secrets.push(body.access_token);
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
    return oauthError(response.status, body, secrets, retryAfterMs);
  }
  const failure: { ok: false } & RefreshFailure = { ok: false, kind: "http", status: response.status };
  if (retryAfterMs !== undefined) failure.retryAfterMs = retryAfterMs;
  return failure;
}

const agents = {
  http: new http.Agent({ keepAlive: true, maxSockets: 512 }),
  https: new https.Agent({ keepAlive: true, maxSockets: 512 }),
};

/** Statuses whose Response may not have a body. */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * The two phases of one token request and their time limits: sending (connect, write the request)
 * and waiting for the answer. Which phase a failure happened in decides whether the provider may
 * have acted on the request.
 */
class Exchange {
  sent = false;
  timedOut = false;
  private timer: NodeJS.Timeout | undefined;
  private request: http.ClientRequest | undefined;
  private readonly limits: Pick<RefreshOptions, "sendTimeoutMs" | "answerTimeoutMs">;

  constructor(limits: Pick<RefreshOptions, "sendTimeoutMs" | "answerTimeoutMs">) {
    this.limits = limits;
  }

  /** The request exists: the send phase's clock starts. */
  begin(request: http.ClientRequest): void {
    this.request = request;
    this.arm(this.limits.sendTimeoutMs);
    request.once("finish", () => {
      this.sent = true;
      this.arm(this.limits.answerTimeoutMs);
    });
  }

  done(): void {
    clearTimeout(this.timer);
  }

  private arm(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.request?.destroy(new Error(this.sent ? "no answer in time" : "could not send in time"));
    }, ms);
  }
}

/** The part of fetch oauth4webapi uses, on node:http(s): buffers the (small) body, bounded in size. */
function nodeFetch(url: string, init: RequestInit, exchange: Exchange): Promise<Response> {
  return new Promise<Response>((resolve, reject) => {
    const target = new URL(url);
    const secure = target.protocol === "https:";
    const request = (secure ? https : http).request(
      target,
      {
        method: init.method ?? "GET",
        headers: Object.fromEntries(new Headers(init.headers).entries()),
        agent: secure ? agents.https : agents.http,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY_CHARS * 4) {
            request.destroy(new Error("response body too large"));
            return;
          }
          chunks.push(chunk);
        });
        res.on("error", reject);
        res.on("end", () => {
          const headers = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            if (typeof value === "string") headers.set(name, value);
            else if (Array.isArray(value)) for (const v of value) headers.append(name, v);
          }
          const status = res.statusCode ?? 500;
          try {
            resolve(
              new Response(NULL_BODY.has(status) ? null : Buffer.concat(chunks), {
                status,
                ...(res.statusMessage ? { statusText: res.statusMessage } : {}),
                headers,
              }),
            );
          } catch (err) {
            reject(err);
          }
        });
      },
    );
    request.on("error", reject);
    exchange.begin(request);
    const body = init.body;
    request.end(body === undefined || body === null ? undefined : String(body));
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

/** The system error code (ECONNREFUSED, ENOTFOUND, ECONNRESET …) says what went wrong; messages may hold URLs. */
function networkDescription(err: unknown): string {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | undefined;
  const code =
    typeof e?.code === "string" ? e.code : typeof e?.cause?.code === "string" ? e.cause.code : undefined;
  return code ?? (err instanceof Error ? err.name : "network error");
}

/**
 * `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date. Returns milliseconds from `now`
 * (0 for a date in the past), or undefined when absent or unreadable.
 */
export function parseRetryAfter(
  value: string | null | undefined,
  now: number = Date.now(),
): number | undefined {
  if (value === null || value === undefined) return undefined;
  const trimmed = value.trim();
  if (trimmed === "") return undefined;
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  // Dates only: Date.parse would also read a bare "12" or "1.5" as a year.
  if (!/[A-Za-z]/.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
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
