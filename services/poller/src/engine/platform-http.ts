import { BucketBlockedError, type RateLimiter } from "@syncwell/rate-limit";
import type { PlatformHttp } from "../connectors/connector.ts";
import { PlatformError } from "../connectors/errors.ts";
import { parseRetryAfterMs } from "../domain/schedule.ts";
import { type RawResponse, RequestTimeoutError, ResponseTooLargeError, send } from "./http-transport.ts";

/** The poll was stopped (shutdown): not a platform failure; the claim is handed back. */
export class PollAbortedError extends Error {
  override readonly name = "PollAbortedError";
}

/**
 * The access token would expire before a request could finish: the poll stops at this page
 * boundary (everything before it is saved) and waits for the refreshed token. Never a request with
 * an expired token.
 */
export class TokenExpiringError extends Error {
  override readonly name = "TokenExpiringError";
}

/** Used when a 429 or a rate-limit 403 gives no time to wait. */
export const DEFAULT_RETRY_AFTER_MS = 60_000;
/** A provider asking for more than this is capped (a bogus header must not stall a platform for days). */
export const MAX_RETRY_AFTER_MS = 6 * 60 * 60_000;
const ERROR_SNIPPET = 200;
/** A character `String.prototype.trim` would keep (`\s` is exactly the set trim removes). */
const NON_BLANK = /\S/;

export type PlatformHttpOptions = {
  platform: string;
  baseUrl: string;
  accessToken: string;
  /** When the token expires; null when it never does. */
  tokenExpiresAt: Date | null;
  limiter: RateLimiter;
  bucketKey: string;
  timeoutMs: number;
  /** Aborted on shutdown. */
  signal: AbortSignal;
  userAgent?: string;
  /** Observes every response status (or "error" when none came back), for metrics. */
  onResponse?: (status: number | "error", durationMs: number) => void;
};

export type CountingPlatformHttp = PlatformHttp & {
  /** Requests sent so far. */
  readonly requests: number;
  /** Method and path (no query) of the last request, for messages. */
  readonly lastRequest: string | undefined;
};

/**
 * The engine's side of `PlatformHttp`: bearer token, a token from the platform's shared bucket
 * before each request, a timeout, and responses mapped to `PlatformError` kinds (3xx other than
 * 304 are not followed: permanent). Absolute URLs are
 * followed only on the platform's own origin (the bearer token never goes anywhere else).
 */
export function createPlatformHttp(options: PlatformHttpOptions): CountingPlatformHttp {
  const base = new URL(options.baseUrl.endsWith("/") ? options.baseUrl : `${options.baseUrl}/`);
  let requests = 0;
  let lastRequest: string | undefined;

  function resolveUrl(
    path: string,
    query: Record<string, string | number | string[] | undefined> | undefined,
  ): URL {
    let url: URL;
    if (/^https?:\/\//i.test(path)) {
      url = new URL(path);
      if (url.origin !== base.origin) {
        throw new PlatformError(
          "permanent",
          `refusing to send the ${options.platform} token to ${url.origin}`,
        );
      }
    } else {
      url = new URL(path.replace(/^\/+/, ""), base);
    }
    for (const [name, value] of Object.entries(query ?? {})) {
      if (value === undefined) continue;
      if (Array.isArray(value)) for (const item of value) url.searchParams.append(name, item);
      else url.searchParams.set(name, String(value));
    }
    return url;
  }

  function assertTokenUsable(): void {
    if (options.signal.aborted) throw new PollAbortedError("poll stopped");
    if (options.tokenExpiresAt === null) return;
    // The token must outlive the request, or the platform would see an expired token mid-flight.
    if (options.tokenExpiresAt.getTime() - Date.now() < options.timeoutMs + 1_000) {
      throw new TokenExpiringError(
        `the ${options.platform} access token expires before a request could finish`,
      );
    }
  }

  return {
    get requests() {
      return requests;
    },
    get lastRequest() {
      return lastRequest;
    },
    async get<T = unknown>(
      path: string,
      request: {
        query?: Record<string, string | number | string[] | undefined>;
        headers?: Record<string, string>;
      } = {},
    ): Promise<{ status: number; body: T; headers: Headers }> {
      const url = resolveUrl(path, request.query);
      const what = `GET ${url.pathname}`;
      assertTokenUsable();
      try {
        await options.limiter.take(options.bucketKey, options.signal);
      } catch (err) {
        if (err instanceof BucketBlockedError) {
          throw new PlatformError("rate_limited", `${options.platform}: ${err.message}`, {
            retryAfterMs: err.waitMs,
          });
        }
        if (options.signal.aborted) throw new PollAbortedError("poll stopped");
        throw err;
      }
      assertTokenUsable(); // the wait for a slot may have been long

      requests += 1;
      lastRequest = what;
      const started = performance.now();
      let response: RawResponse;
      try {
        response = await send(url, {
          headers: {
            accept: "application/json",
            "user-agent": options.userAgent ?? "syncwell-poller",
            ...request.headers,
            authorization: `Bearer ${options.accessToken}`,
          },
          timeoutMs: options.timeoutMs,
          signal: options.signal,
        });
      } catch (err) {
        options.onResponse?.("error", performance.now() - started);
        if (options.signal.aborted) throw new PollAbortedError("poll stopped");
        if (err instanceof ResponseTooLargeError)
          throw new PlatformError("malformed", `${what}: ${err.message}`);
        if (err instanceof RequestTimeoutError) {
          throw new PlatformError("transient", `${what} timed out after ${options.timeoutMs} ms`, {
            cause: err,
          });
        }
        const reason = (err as { code?: string }).code ?? (err as Error).message;
        throw new PlatformError("transient", `${what} failed: ${reason}`, { cause: err });
      }
      options.onResponse?.(response.status, performance.now() - started);
      const text = response.text;
      const status = response.status;

      // The headers stay lazy (see send): most connectors never read them.
      const answer = (body: T) => ({
        status,
        body,
        get headers() {
          return response.headers;
        },
      });
      if (status === 304) return answer(null as T);
      if (status >= 200 && status < 300) {
        // Not `text.trim() === ""`: that copies every body just to look at it.
        if (!NON_BLANK.test(text)) return answer(null as T);
        let body: T;
        try {
          body = JSON.parse(text) as T;
        } catch {
          throw new PlatformError("malformed", `${what} returned ${status} with a body that is not JSON`, {
            status,
          });
        }
        return answer(body);
      }
      const detail = errorDetail(text);
      const message = `${what} returned ${status}${detail ? `: ${detail}` : ""}`;
      if (status === 401) throw new PlatformError("unauthorized", message, { status });
      if (status === 429 || (status === 403 && isRateLimitResponse(response.headers))) {
        throw new PlatformError("rate_limited", message, {
          status,
          retryAfterMs: retryAfterOf(response.headers, Date.now()),
        });
      }
      if (status >= 500) throw new PlatformError("transient", message, { status });
      throw new PlatformError("permanent", message, { status });
    },
  };
}

/** A 403 that is a rate limit (GitHub's primary and secondary limits) rather than a refusal. */
function isRateLimitResponse(headers: Headers): boolean {
  return headers.has("retry-after") || headers.get("x-ratelimit-remaining") === "0";
}

/** How long a rate-limited response asks to wait: Retry-After, else the rate-limit reset headers. */
export function retryAfterOf(headers: Headers, now: number): number {
  const fromHeader = parseRetryAfterMs(headers.get("retry-after"), now);
  let ms = fromHeader;
  if (ms === undefined) {
    const resetAfter = Number(headers.get("x-ratelimit-reset-after") ?? Number.NaN); // Discord: seconds
    const resetAt = Number(headers.get("x-ratelimit-reset") ?? Number.NaN); // GitHub: epoch seconds
    if (Number.isFinite(resetAfter)) ms = Math.ceil(resetAfter * 1000);
    else if (Number.isFinite(resetAt) && resetAt > 1e9) ms = Math.max(0, resetAt * 1000 - now);
  }
  return Math.min(MAX_RETRY_AFTER_MS, ms ?? DEFAULT_RETRY_AFTER_MS);
}

/** A short, single-line reason from an error body (`error.message`, `error_description`, `message`). */
function errorDetail(text: string): string | undefined {
  if (text.trim() === "") return undefined;
  let detail: unknown;
  try {
    const body = JSON.parse(text) as Record<string, unknown>;
    const error = body.error;
    detail =
      (typeof error === "object" && error !== null ? (error as Record<string, unknown>).message : error) ??
      body.error_description ??
      body.message;
  } catch {
    return undefined;
  }
  if (typeof detail !== "string") return undefined;
  return detail.replaceAll(/\s+/g, " ").trim().slice(0, ERROR_SNIPPET) || undefined;
}
