import http from "node:http";
import https from "node:https";

/**
 * HTTP requests (GET, and POST with a body) over node:http / node:https with keep-alive agents.
 * Not `fetch`: on the poller's hot path (thousands of small JSON responses a second) node:http
 * costs about half the CPU per request, and it never follows redirects (a bearer token must not go
 * anywhere the caller did not choose).
 */

export type RawResponse = { status: number; headers: Headers; text: string };

export class RequestTimeoutError extends Error {
  override readonly name = "RequestTimeoutError";
}

export class ResponseTooLargeError extends Error {
  override readonly name = "ResponseTooLargeError";
}

/** A platform answering more than this for one page is refused rather than buffered. */
export const MAX_RESPONSE_BYTES = 32 * 1024 * 1024;

const MAX_SOCKETS = 512;
// As many idle sockets kept as may be open: with the default (256) a burst above it closes the
// surplus as soon as it is idle, and the next burst connects again (connect/close churn under load).
const agentOptions = {
  keepAlive: true,
  maxSockets: MAX_SOCKETS,
  maxFreeSockets: MAX_SOCKETS,
  scheduling: "lifo",
} as const;
const agents = {
  "http:": new http.Agent(agentOptions),
  "https:": new https.Agent(agentOptions),
};

export type SendOptions = {
  /** GET by default. */
  method?: "GET" | "POST";
  headers: Record<string, string>;
  /** The request body (sent with its Content-Length); none for a GET. */
  body?: string;
  timeoutMs: number;
  signal: AbortSignal;
};

export function send(url: URL, options: SendOptions): Promise<RawResponse> {
  return new Promise<RawResponse>((resolve, reject) => {
    const lib = url.protocol === "https:" ? https : http;
    const agent = url.protocol === "https:" ? agents["https:"] : agents["http:"];
    let settled = false;
    const finish = (err: Error | null, value?: RawResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal.removeEventListener("abort", onAbort);
      if (err) reject(err);
      else resolve(value as RawResponse);
    };
    const { body } = options;
    const headers =
      body === undefined
        ? options.headers
        : { ...options.headers, "content-length": String(Buffer.byteLength(body)) };
    const req = lib.request(url, { method: options.method ?? "GET", agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) {
          req.destroy(new ResponseTooLargeError(`response larger than ${MAX_RESPONSE_BYTES} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on("end", () => {
        // Built on first use: most callers never look at the headers, and a Headers object per
        // response is a noticeable share of the poller's CPU.
        let headers: Headers | undefined;
        const raw = res.rawHeaders;
        finish(null, {
          status: res.statusCode ?? 0,
          get headers() {
            if (headers === undefined) {
              headers = new Headers();
              for (let i = 0; i + 1 < raw.length; i += 2)
                headers.append(raw[i] as string, raw[i + 1] as string);
            }
            return headers;
          },
          text:
            chunks.length === 1
              ? (chunks[0] as Buffer).toString("utf8")
              : Buffer.concat(chunks).toString("utf8"),
        });
      });
      res.on("error", (err) => finish(err));
      res.on("aborted", () => finish(new Error("response aborted")));
    });
    const timer = setTimeout(() => {
      const err = new RequestTimeoutError(`no complete response within ${options.timeoutMs} ms`);
      req.destroy(err);
      finish(err);
    }, options.timeoutMs);
    const onAbort = () => {
      const err = new Error("request aborted");
      req.destroy(err);
      finish(err);
    };
    if (options.signal.aborted) onAbort();
    else options.signal.addEventListener("abort", onAbort, { once: true });
    req.on("error", (err) => finish(err));
    req.end(body);
  });
}
