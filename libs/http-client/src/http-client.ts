import { Agent, type Dispatcher } from "undici";
import { type HttpFailureReason, type HttpPhase, type HttpRequestError, requestError } from "./errors.ts";

/**
 * The one client for outside HTTP APIs (token endpoints, platform APIs): undici's dispatcher with a
 * keep-alive pool per origin, a time limit per phase, a bounded body, and errors that say which
 * phase failed and whether the request had reached the network.
 *
 * It drives undici's `dispatch` with its own handler instead of `fetch` or `request`: the body is
 * buffered straight from the parser's chunks (no web or node stream per response), and the handler
 * sees the moment the whole request has been handed to the socket (`onRequestSent`). That moment
 * decides what a failure means: before it the server cannot have acted on the request; after it,
 * it may have (a token endpoint may have rotated a refresh token whose only copy was the lost
 * answer). undici 7 calls `onRequestSent` only on handlers written to its original handler
 * interface (a handler with `onRequestStart` is wrapped, and the wrapper drops it), which is why
 * the handler below uses that interface; undici 8 passes `onRequestSent` to both.
 *
 * Redirects are never followed: a bearer token must not go anywhere the caller did not choose.
 */

/**
 * Time limits, in milliseconds. A phase without a limit of its own is bounded by the wider ones,
 * and every exchange by `sendMs + answerMs`.
 */
export type Timeouts = {
  /** Get a connection (from the pool, or connect) and hand the whole request to it. */
  sendMs: number;
  /** From the request sent to the end of the response body. */
  answerMs: number;
  /** From the request sent to the response headers. */
  headersMs?: number;
  /** From the response headers to the end of the body. */
  bodyMs?: number;
  /** The whole exchange, from the call. */
  totalMs?: number;
};

export type HttpClientOptions = {
  /** Used for requests that name none. */
  timeouts: Timeouts;
  /** A longer response body is refused (a proxy's error page, a runaway page): a failure. */
  maxBodyBytes: number;
  /** Connections kept per origin; requests beyond them wait for one (counted in `sendMs`). */
  connectionsPerOrigin?: number;
};

export type HttpRequest = {
  /** GET by default. */
  method?: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  headers?: Readonly<Record<string, string>>;
  /** Sent with its Content-Length. */
  body?: string;
  timeouts?: Timeouts;
  maxBodyBytes?: number;
  /** Ends the exchange at once with an `aborted` failure. */
  signal?: AbortSignal;
  /** Told of every exchange once it is over: its status, or "error" when no complete answer came. */
  observe?: (status: number | "error", durationMs: number) => void;
};

export type HttpResponse = {
  readonly status: number;
  /** Built on first use: most callers never look at them. */
  readonly headers: Headers;
  /** The body, decoded as UTF-8. */
  readonly text: string;
};

export type HttpClient = {
  /** Resolves with any status; rejects with an `HttpRequestError` when no complete answer came. */
  request(url: URL, request?: HttpRequest): Promise<HttpResponse>;
  /** Closes the pooled connections once the requests in flight have ended. */
  close(): Promise<void>;
};

const DEFAULT_CONNECTIONS_PER_ORIGIN = 512;

export function createHttpClient(options: HttpClientOptions): HttpClient {
  const agent = new Agent({
    connections: options.connectionsPerOrigin ?? DEFAULT_CONNECTIONS_PER_ORIGIN,
    // The exchange's own limits below apply; undici's would cut a long answer the caller waits for.
    headersTimeout: 0,
    bodyTimeout: 0,
  });
  return {
    request(url, request = {}) {
      return new Promise<HttpResponse>((resolve, reject) => {
        const exchange = new Exchange(url, request, options, resolve, reject);
        if (exchange.settled) return;
        const method = request.method ?? "GET";
        const dispatch: Dispatcher.DispatchOptions = {
          origin: url.origin,
          path: url.pathname + url.search,
          method,
          ...(request.headers === undefined ? {} : { headers: request.headers }),
          ...(request.body === undefined ? {} : { body: request.body }),
        };
        agent.dispatch(dispatch, exchange);
      });
    },
    close: () => agent.close(),
  };
}

/**
 * One request and its answer, as undici's dispatch handler: tracks the phase, keeps one timer set
 * to the nearest limit, buffers the body up to its bound, and settles the caller's promise once.
 */
class Exchange {
  settled = false;
  private phase: HttpPhase = "connect";
  private sent = false;
  private abortRequest: ((err: Error) => void) | undefined;
  private failure: HttpRequestError | undefined;
  private timer: NodeJS.Timeout | undefined;
  private deadline = Number.POSITIVE_INFINITY;
  private readonly startedAt = performance.now();
  private answerDeadline = Number.POSITIVE_INFINITY;
  private readonly totalDeadline: number;
  private readonly timeouts: Timeouts;
  private readonly maxBodyBytes: number;
  private status = 0;
  private rawHeaders: Buffer[] = [];
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private readonly url: URL;
  private readonly request: HttpRequest;
  private readonly resolve: (response: HttpResponse) => void;
  private readonly reject: (err: HttpRequestError) => void;

  constructor(
    url: URL,
    request: HttpRequest,
    defaults: HttpClientOptions,
    resolve: (response: HttpResponse) => void,
    reject: (err: HttpRequestError) => void,
  ) {
    this.url = url;
    this.request = request;
    this.resolve = resolve;
    this.reject = reject;
    this.timeouts = request.timeouts ?? defaults.timeouts;
    this.maxBodyBytes = request.maxBodyBytes ?? defaults.maxBodyBytes;
    this.totalDeadline = this.startedAt + (this.timeouts.totalMs ?? Number.POSITIVE_INFINITY);
    const { signal } = request;
    if (signal?.aborted) {
      this.fail(this.error("aborted"));
      return;
    }
    signal?.addEventListener("abort", this.onAbort, { once: true });
    this.arm(this.timeouts.sendMs);
  }

  // undici's handler interface (see the top of this file).

  onConnect(abort: (err?: Error) => void): void {
    // A request failed while it waited for a connection is dropped as soon as it gets one.
    if (this.failure) abort(this.failure);
    else {
      this.abortRequest = abort;
      this.phase = "send";
    }
  }

  onRequestSent(): void {
    this.markSent();
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[]): boolean {
    if (statusCode < 200) return true; // 1xx: the real answer follows
    // An answer means the server read the request, even if it answered before the body was sent.
    this.markSent();
    this.status = statusCode;
    this.rawHeaders = rawHeaders;
    this.phase = "body";
    this.arm(this.timeouts.bodyMs);
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.size += chunk.length;
    if (this.size > this.maxBodyBytes) {
      this.fail(this.error("body_too_large"));
      return false;
    }
    this.chunks.push(chunk);
    return true;
  }

  onComplete(): void {
    if (this.settled) return;
    const { chunks } = this;
    const text =
      chunks.length === 0
        ? ""
        : chunks.length === 1
          ? (chunks[0] as Buffer).toString("utf8")
          : Buffer.concat(chunks, this.size).toString("utf8");
    this.settle();
    this.resolve(new BufferedResponse(this.status, this.rawHeaders, text));
    this.request.observe?.(this.status, performance.now() - this.startedAt);
  }

  onError(err: Error): void {
    if (this.settled) return;
    this.fail(this.error(undefined, err));
  }

  private markSent(): void {
    if (this.sent) return;
    this.sent = true;
    this.phase = "headers";
    const now = performance.now();
    this.answerDeadline = now + this.timeouts.answerMs;
    this.arm(this.timeouts.headersMs, now);
  }

  /** Points the one timer at the nearest deadline: this phase's limit, the answer's, the total. */
  private arm(phaseMs: number | undefined, now = performance.now()): void {
    const deadline = Math.min(
      phaseMs === undefined ? Number.POSITIVE_INFINITY : now + phaseMs,
      this.answerDeadline,
      this.totalDeadline,
    );
    if (deadline === this.deadline) return;
    this.deadline = deadline;
    clearTimeout(this.timer);
    this.timer =
      deadline === Number.POSITIVE_INFINITY
        ? undefined
        : setTimeout(this.onTimeout, Math.max(0, deadline - now));
  }

  private readonly onTimeout = (): void => {
    this.fail(this.error("timeout"));
  };

  private readonly onAbort = (): void => {
    this.fail(this.error("aborted"));
  };

  private error(reason: HttpFailureReason | undefined, cause?: unknown): HttpRequestError {
    return requestError({
      method: this.request.method ?? "GET",
      url: this.url,
      phase: this.phase,
      sent: this.sent,
      reason,
      cause,
      maxBodyBytes: this.maxBodyBytes,
    });
  }

  private fail(err: HttpRequestError): void {
    if (this.settled) return;
    this.failure = err;
    this.settle();
    this.abortRequest?.(err);
    this.reject(err);
    this.request.observe?.("error", performance.now() - this.startedAt);
  }

  private settle(): void {
    this.settled = true;
    clearTimeout(this.timer);
    this.request.signal?.removeEventListener("abort", this.onAbort);
  }
}

class BufferedResponse implements HttpResponse {
  readonly status: number;
  readonly text: string;
  readonly #rawHeaders: Buffer[];
  #headers: Headers | undefined;

  constructor(status: number, rawHeaders: Buffer[], text: string) {
    this.status = status;
    this.#rawHeaders = rawHeaders;
    this.text = text;
  }

  get headers(): Headers {
    if (this.#headers === undefined) {
      const headers = new Headers();
      const raw = this.#rawHeaders;
      for (let i = 0; i + 1 < raw.length; i += 2) {
        headers.append((raw[i] as Buffer).toString("latin1"), (raw[i + 1] as Buffer).toString("latin1"));
      }
      this.#headers = headers;
    }
    return this.#headers;
  }
}
