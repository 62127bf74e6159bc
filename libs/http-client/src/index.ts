export { type HttpFailureReason, type HttpPhase, HttpRequestError } from "./errors.ts";
export {
  createHttpClient,
  type HttpClient,
  type HttpClientOptions,
  type HttpRequest,
  type HttpResponse,
  type Timeouts,
} from "./http-client.ts";
export { parseRetryAfter } from "./retry-after.ts";
