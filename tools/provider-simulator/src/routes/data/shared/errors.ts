import type { DataPlatform } from "../../../data/dataset.ts";
import type { AccessTokenProblem } from "../../../grants.ts";

/** What a data endpoint answers; the wrapper serialises `body` and logs `error`. */
export type DataResponse = {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Short code for the request log (null on success). */
  error?: string | null;
};

export type ErrorOptions = {
  /** Google: the `errors[].reason`; elsewhere the log code. */
  reason?: string | undefined;
  message?: string | undefined;
  /** Seconds until a retry may succeed (Discord puts it in the body as well). */
  retryAfterSeconds?: number | undefined;
  /** 401s: why the token was refused (the platforms word these differently). */
  problem?: AccessTokenProblem | "missing" | undefined;
  /** Google only: the `status` string, where the default for the HTTP status does not fit. */
  googleStatus?: string | null | undefined;
};

const LOG_CODES: Record<number, string> = {
  400: "invalid_request",
  401: "invalid_token",
  403: "forbidden",
  404: "not_found",
  410: "gone",
  429: "rate_limit_exceeded",
  500: "server_error",
  502: "bad_gateway",
  503: "service_unavailable",
};

const GOOGLE: Record<number, { status: string | null; reason: string; message: string }> = {
  400: { status: "INVALID_ARGUMENT", reason: "invalid", message: "Invalid value" },
  401: {
    status: "UNAUTHENTICATED",
    reason: "authError",
    message:
      "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
  },
  403: { status: "PERMISSION_DENIED", reason: "forbidden", message: "The caller does not have permission" },
  404: { status: "NOT_FOUND", reason: "notFound", message: "Requested entity was not found." },
  410: { status: null, reason: "deleted", message: "Resource has been deleted" },
  429: {
    status: "RESOURCE_EXHAUSTED",
    reason: "rateLimitExceeded",
    message: "Resource has been exhausted (e.g. check quota).",
  },
  500: { status: "INTERNAL", reason: "backendError", message: "Internal error encountered." },
  502: { status: "UNAVAILABLE", reason: "backendError", message: "Bad Gateway" },
  503: { status: "UNAVAILABLE", reason: "backendError", message: "The service is currently unavailable." },
};

/** Google's JSON error (Gmail, Calendar, YouTube): `{"error": {code, message, errors[], status}}`. */
function googleError(status: number, options: ErrorOptions): DataResponse {
  const base = GOOGLE[status] ?? { status: null, reason: "unknown", message: `HTTP ${status}` };
  const missing = status === 401 && options.problem === "missing";
  const message =
    options.message ??
    (missing
      ? "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
      : base.message);
  const reason = options.reason ?? (missing ? "required" : base.reason);
  const detail: Record<string, string> = {
    message: status === 401 ? (missing ? "Login Required." : "Invalid Credentials") : message,
    domain: "global",
    reason,
  };
  if (status === 401) {
    detail.location = "Authorization";
    detail.locationType = "header";
  }
  const error: Record<string, unknown> = { code: status, message, errors: [detail] };
  const googleStatus = options.googleStatus === undefined ? base.status : options.googleStatus;
  if (googleStatus !== null) error.status = googleStatus;
  const headers: Record<string, string> = {};
  if (status === 401) {
    headers["www-authenticate"] = missing
      ? 'Bearer realm="https://accounts.google.com/"'
      : 'Bearer realm="https://accounts.google.com/", error="invalid_token"';
  }
  return { status, body: { error }, headers, error: options.reason ?? LOG_CODES[status] ?? null };
}

const SPOTIFY: Record<number, string> = {
  400: "Bad request.",
  403: "Insufficient client scope",
  404: "Not found.",
  429: "API rate limit exceeded",
  500: "Server error.",
  502: "Bad gateway.",
  503: "Service unavailable",
};

/** Spotify's `{"error": {status, message}}`. */
function spotifyError(status: number, options: ErrorOptions): DataResponse {
  const unauthorized =
    options.problem === "expired"
      ? "The access token expired"
      : options.problem === "missing"
        ? "No token provided"
        : "Invalid access token";
  const message = options.message ?? (status === 401 ? unauthorized : (SPOTIFY[status] ?? `HTTP ${status}`));
  return { status, body: { error: { status, message } }, error: options.reason ?? LOG_CODES[status] ?? null };
}

const GITHUB_DOCS = "https://docs.github.com/rest";

/** GitHub's `{message, documentation_url, status}`. */
function githubError(status: number, options: ErrorOptions): DataResponse {
  const defaults: Record<number, string> = {
    400: "Bad Request",
    401: options.problem === "missing" ? "Requires authentication" : "Bad credentials",
    403: "Forbidden",
    404: "Not Found",
    422: "Validation Failed",
    429: "API rate limit exceeded. Please wait before retrying.",
    500: "Server Error",
    502: "Server Error",
    503: "Service Unavailable",
  };
  const headers: Record<string, string> = {};
  if (status === 429) headers["x-ratelimit-remaining"] = "0";
  return {
    status,
    body: {
      message: options.message ?? defaults[status] ?? `HTTP ${status}`,
      documentation_url:
        status === 429 ? `${GITHUB_DOCS}/using-the-rest-api/rate-limits-for-the-rest-api` : GITHUB_DOCS,
      status: String(status),
    },
    headers,
    error: options.reason ?? LOG_CODES[status] ?? null,
  };
}

/** Discord's `{message, code}`, or its rate-limit body with `retry_after`. */
function discordError(status: number, options: ErrorOptions): DataResponse {
  const error = options.reason ?? LOG_CODES[status] ?? null;
  if (status === 429) {
    const retryAfter = options.retryAfterSeconds ?? 1;
    return {
      status,
      body: {
        message: options.message ?? "You are being rate limited.",
        retry_after: retryAfter,
        global: false,
      },
      headers: {
        "x-ratelimit-limit": "1",
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset-after": String(retryAfter),
        "x-ratelimit-scope": "user",
      },
      error,
    };
  }
  const defaults: Record<number, { message: string; code: number }> = {
    400: { message: "Invalid Form Body", code: 50035 },
    401: { message: "401: Unauthorized", code: 0 },
    403: { message: "Missing Access", code: 50001 },
    404: { message: "404: Not Found", code: 0 },
    500: { message: "500: Internal Server Error", code: 0 },
    502: { message: "502: Bad Gateway", code: 0 },
    503: { message: "503: Service Unavailable", code: 0 },
  };
  const base = defaults[status] ?? { message: `${status}`, code: 0 };
  return { status, body: { message: options.message ?? base.message, code: base.code }, error };
}

/** An error as the platform's real API shapes it. */
export function platformError(
  platform: DataPlatform,
  status: number,
  options: ErrorOptions = {},
): DataResponse {
  switch (platform) {
    case "gmail":
    case "calendar":
    case "youtube":
      return googleError(status, options);
    case "spotify":
      return spotifyError(status, options);
    case "github":
      return githubError(status, options);
    case "discord":
      return discordError(status, options);
  }
}

/** A 400 for a bad query parameter, in the platform's words. */
export function badRequest(platform: DataPlatform, message: string): DataResponse {
  return platformError(platform, 400, { message });
}
