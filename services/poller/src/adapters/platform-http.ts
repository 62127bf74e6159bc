import { createHttpClient, HttpRequestError, type HttpResponse, type Timeouts } from "@syncwell/http-client";
import { BucketBlockedError, type RateLimiter } from "@syncwell/rate-limit";
import type { PlatformHttp } from "./connectors/connector.ts";
import { PlatformError, statusError } from "./connectors/errors.ts";

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

/** A character `String.prototype.trim` would keep (`\s` is exactly the set trim removes). */
const NON_BLANK = /\S/;
const ACCEPT_JSON: Readonly<Record<string, string>> = { accept: "application/json" };

/** A platform answering more than this for one page is refused rather than buffered. */
export const MAX_RESPONSE_BYTES = 32 * 1024 * 1024;

/**
 * One keep-alive pool per platform origin, shared by every poll of the process. Each poll gives its
 * own time limit (see `PlatformHttpSession`).
 */
const platformClient = createHttpClient({
  timeouts: { sendMs: 30_000, answerMs: 30_000 },
  maxBodyBytes: MAX_RESPONSE_BYTES,
});

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
 * The engine's side of `PlatformHttp`: bearer token, tokens from the platform's shared bucket
 * before each request (one per platform call: a batch of N calls takes N), a timeout, and
 * responses mapped to `PlatformError` kinds (see `statusError`; 3xx other than 304 are not
 * followed: permanent). Absolute URLs are followed only on the platform's own origin (the bearer
 * token never goes anywhere else).
 */
export function createPlatformHttp(options: PlatformHttpOptions): CountingPlatformHttp {
  return new PlatformHttpSession(options);
}

type Query = Record<string, string | number | string[] | undefined>;

/** One poll's requests to one platform, with that poll's token, bucket, time limit and signal. */
class PlatformHttpSession implements CountingPlatformHttp {
  #requests = 0;
  #lastRequest: string | undefined;
  private readonly options: PlatformHttpOptions;
  private readonly base: URL;
  /** The poll's time limit bounds the whole exchange, whichever phase it is in. */
  private readonly timeouts: Timeouts;

  constructor(options: PlatformHttpOptions) {
    this.options = options;
    this.base = new URL(options.baseUrl.endsWith("/") ? options.baseUrl : `${options.baseUrl}/`);
    const ms = options.timeoutMs;
    this.timeouts = { sendMs: ms, answerMs: ms, totalMs: ms };
  }

  get requests(): number {
    return this.#requests;
  }

  get lastRequest(): string | undefined {
    return this.#lastRequest;
  }

  async get<T = unknown>(
    path: string,
    request: { query?: Query; headers?: Record<string, string> } = {},
  ): Promise<{ status: number; body: T; headers: Headers }> {
    const url = this.resolveUrl(path, request.query);
    const response = await this.exchange(url, {
      method: "GET",
      calls: 1,
      headers: request.headers === undefined ? ACCEPT_JSON : { ...ACCEPT_JSON, ...request.headers },
    });
    const { status, text } = response;

    // The headers stay lazy (the client builds them on first use): most connectors never read them.
    const answer = (body: T) => ({
      status,
      body,
      get headers() {
        return response.headers;
      },
    });
    if (status === 304) return answer(null as T);
    if (status < 200 || status >= 300)
      throw statusError(`GET ${url.pathname}`, status, response.headers, text);
    // Not `text.trim() === ""`: that copies every body just to look at it.
    if (!NON_BLANK.test(text)) return answer(null as T);
    let body: T;
    try {
      body = JSON.parse(text) as T;
    } catch {
      throw new PlatformError(
        "malformed",
        `GET ${url.pathname} returned ${status} with a body that is not JSON`,
        {
          status,
        },
      );
    }
    return answer(body);
  }

  async post(
    path: string,
    request: { body: string; contentType: string; calls?: number; headers?: Record<string, string> },
  ): Promise<HttpResponse> {
    const url = this.resolveUrl(path, undefined);
    const response = await this.exchange(url, {
      method: "POST",
      calls: request.calls ?? 1,
      headers: { ...request.headers, "content-type": request.contentType },
      body: request.body,
    });
    if (response.status < 200 || response.status >= 300) {
      throw statusError(`POST ${url.pathname}`, response.status, response.headers, response.text);
    }
    return response;
  }

  private resolveUrl(path: string, query: Query | undefined): URL {
    let url: URL;
    if (/^https?:\/\//i.test(path)) {
      url = new URL(path);
      if (url.origin !== this.base.origin) {
        throw new PlatformError(
          "permanent",
          `refusing to send the ${this.options.platform} token to ${url.origin}`,
        );
      }
    } else {
      url = new URL(path.replace(/^\/+/, ""), this.base);
    }
    for (const [name, value] of Object.entries(query ?? {})) {
      if (value === undefined) continue;
      if (Array.isArray(value)) for (const item of value) url.searchParams.append(name, item);
      else url.searchParams.set(name, String(value));
    }
    return url;
  }

  private assertTokenUsable(): void {
    const { options } = this;
    if (options.signal.aborted) throw new PollAbortedError("poll stopped");
    if (options.tokenExpiresAt === null) return;
    // The token must outlive the request, or the platform would see an expired token mid-flight.
    if (options.tokenExpiresAt.getTime() - Date.now() < options.timeoutMs + 1_000) {
      throw new TokenExpiringError(
        `the ${options.platform} access token expires before a request could finish`,
      );
    }
  }

  /**
   * One request: a slot from the shared bucket for each platform call it carries, the bearer token,
   * the time limit; transport failures mapped to PlatformError. Any status comes back.
   */
  private async exchange(
    url: URL,
    request: {
      method: "GET" | "POST";
      calls: number;
      headers: Readonly<Record<string, string>>;
      body?: string;
    },
  ): Promise<HttpResponse> {
    const { options } = this;
    const what = `${request.method} ${url.pathname}`;
    this.assertTokenUsable();
    await this.takeSlots(request.calls);
    this.assertTokenUsable(); // the wait for a slot may have been long (and an abort ends takeMany early)

    this.#requests += 1;
    this.#lastRequest = what;
    try {
      return await platformClient.request(url, {
        method: request.method,
        headers: {
          "user-agent": options.userAgent ?? "syncwell-poller",
          ...request.headers,
          authorization: `Bearer ${options.accessToken}`,
        },
        ...(request.body === undefined ? {} : { body: request.body }),
        timeouts: this.timeouts,
        signal: options.signal,
        ...(options.onResponse === undefined ? {} : { observe: options.onResponse }),
      });
    } catch (err) {
      throw this.transportError(what, err);
    }
  }

  /** Slots from the platform's shared bucket; a blocked bucket is a rate limit with its wait. */
  private async takeSlots(calls: number): Promise<void> {
    const { options } = this;
    try {
      await options.limiter.takeMany(options.bucketKey, calls, options.signal);
    } catch (err) {
      if (err instanceof BucketBlockedError) {
        throw new PlatformError("rate_limited", `${options.platform}: ${err.message}`, {
          retryAfterMs: err.waitMs,
        });
      }
      if (options.signal.aborted) throw new PollAbortedError("poll stopped");
      throw err;
    }
  }

  /** No answer: the poll was stopped, the page was too large, or the platform is (for now) away. */
  private transportError(what: string, err: unknown): Error {
    if (this.options.signal.aborted) return new PollAbortedError("poll stopped");
    if (err instanceof HttpRequestError && err.reason === "body_too_large") {
      return new PlatformError("malformed", `${what}: response larger than ${MAX_RESPONSE_BYTES} bytes`);
    }
    if (err instanceof HttpRequestError && err.reason === "timeout") {
      return new PlatformError("transient", `${what} timed out after ${this.options.timeoutMs} ms`, {
        cause: err,
      });
    }
    const reason =
      err instanceof HttpRequestError
        ? (err.code ?? err.reason)
        : ((err as { code?: string }).code ?? (err as Error).message);
    return new PlatformError("transient", `${what} failed: ${reason}`, { cause: err });
  }
}
