import { z } from "zod";
import { providerIds } from "./providers.ts";

/** 403 is how Google and GitHub often report quota and secondary rate limits on data APIs. */
export const faultStatuses = [400, 401, 403, 429, 500, 502, 503] as const;

/** `Retry-After` is either delta-seconds or an HTTP-date (RFC 9110 §10.2.3). */
const retryAfterSchema = z.union([
  z.number().int().nonnegative(),
  z.string().refine((value) => /^\d+$/.test(value) || !Number.isNaN(Date.parse(value)), {
    message: "must be a number of seconds or an HTTP date",
  }),
]);

/** Delays a fault may add: whole milliseconds, at most ten minutes. */
const faultDelayMs = z
  .number()
  .int("must be whole milliseconds")
  .nonnegative("must be 0 or more")
  .max(600_000, "must be at most 600000 (10 minutes)");

export const faultSchema = z.discriminatedUnion("kind", [
  z.strictObject({
    kind: z.literal("status"),
    status: z.literal(faultStatuses),
    /** OAuth error code for the JSON body; defaults by status (see defaultErrorCode). */
    error: z
      .string()
      .regex(/^[\x20-\x21\x23-\x5B\x5D-\x7E]+$/, "must be an RFC 6749 error code")
      .optional(),
    errorDescription: z.string().optional(),
    retryAfter: retryAfterSchema.optional(),
  }),
  z.strictObject({ kind: z.literal("latency"), ms: faultDelayMs }),
  z.strictObject({ kind: z.literal("timeout") }),
  z.strictObject({ kind: z.literal("malformed") }),
  z.strictObject({ kind: z.literal("no_refresh_token") }),
  /** Token requests: commit the refresh (rotate) at once, answer `ms` later. */
  z.strictObject({ kind: z.literal("late_answer"), ms: faultDelayMs }),
  /** Token requests: commit the refresh, then reset the connection instead of answering. */
  z.strictObject({ kind: z.literal("drop_after_rotate") }),
  /** Email requests: send the email (and remember its idempotency key), then reset the connection. */
  z.strictObject({ kind: z.literal("drop_after_send") }),
]);

/** Kinds that only make sense where a refresh token is presented and rotated. */
export const tokenOnlyFaultKinds = ["no_refresh_token", "late_answer", "drop_after_rotate"] as const;

/** Kinds the email endpoint takes (`drop_after_send` is its own). */
export const emailFaultKinds = ["status", "latency", "timeout", "malformed", "drop_after_send"] as const;

export type Fault = z.output<typeof faultSchema>;
export type FaultKind = Fault["kind"];

export const faultEndpoints = ["token", "data", "email"] as const;
export type FaultEndpoint = (typeof faultEndpoints)[number];

/**
 * Which requests a scripted fault applies to; an absent field matches everything. `endpoint`
 * picks token, data or email (Resend's `POST /emails`) requests: without it, a fault with
 * `resource` or `path` targets data endpoints and any other fault targets token requests (as
 * before data endpoints existed).
 */
export const faultMatchSchema = z.strictObject({
  provider: z.enum(providerIds).optional(),
  connectionKey: z.string().min(1).optional(),
  refreshToken: z.string().min(1).optional(),
  endpoint: z.enum(faultEndpoints).optional(),
  /** A data resource (`gmail.messages`) or a whole platform (`gmail`). */
  resource: z
    .string()
    .regex(
      /^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*$/,
      "a resource like gmail.messages, or a platform like gmail",
    )
    .optional(),
  /** A path prefix, e.g. `/gmail/gmail/v1/users/me/history`. */
  path: z.string().startsWith("/").optional(),
  /**
   * Share of matching requests the fault applies to, each decided by its own random draw; a
   * request not picked is matched against the later faults as if this one did not exist, and
   * does not use up `times`. Absent (or 1): every matching request.
   */
  ratio: z
    .number()
    .gt(0, "must be more than 0 and at most 1")
    .max(1, "must be more than 0 and at most 1")
    .optional(),
});

export type FaultMatch = z.output<typeof faultMatchSchema>;

/** The endpoint kind a fault applies to (see faultMatchSchema). */
export function faultTarget(match: FaultMatch): FaultEndpoint {
  return match.endpoint ?? (match.resource !== undefined || match.path !== undefined ? "data" : "token");
}

export type ScriptedFault = FaultMatch & {
  id: string;
  fault: Fault;
  /** Requests left to affect; null = until cleared. */
  remaining: number | null;
  createdAt: string;
};

export type FaultContext = {
  endpoint: FaultEndpoint;
  provider: string;
  connectionKey: string | null;
  refreshToken: string | null;
  /** Data requests: `<platform>.<resource>` and the path without its query. */
  resource: string | null;
  path: string | null;
};

/** `gmail` and `gmail.messages` both cover `gmail.messages`; `gmail.message` does not. */
export function resourceCovers(pattern: string, resource: string | null): boolean {
  return resource !== null && (resource === pattern || resource.startsWith(`${pattern}.`));
}

export function faultMatches(entry: ScriptedFault, ctx: FaultContext): boolean {
  if (faultTarget(entry) !== ctx.endpoint) return false;
  if (entry.provider !== undefined && entry.provider !== ctx.provider) return false;
  if (entry.resource !== undefined && !resourceCovers(entry.resource, ctx.resource)) return false;
  if (entry.path !== undefined && (ctx.path === null || !ctx.path.startsWith(entry.path))) return false;
  if (entry.connectionKey !== undefined && entry.connectionKey !== ctx.connectionKey) return false;
  if (entry.refreshToken !== undefined && entry.refreshToken !== ctx.refreshToken) return false;
  return true;
}

export function defaultErrorCode(status: (typeof faultStatuses)[number]): string {
  switch (status) {
    case 400:
      return "invalid_grant";
    case 401:
      return "invalid_client";
    case 403:
      return "access_denied";
    case 429:
      return "rate_limit_exceeded";
    case 503:
      return "temporarily_unavailable";
    case 500:
    case 502:
      return "server_error";
  }
}

/** The `name` of Resend's error body for a scripted status (its documented error codes). */
export function resendErrorName(status: (typeof faultStatuses)[number]): string {
  switch (status) {
    case 400:
      return "validation_error";
    case 401:
      return "missing_api_key";
    case 403:
      return "invalid_api_key";
    case 429:
      return "rate_limit_exceeded";
    case 500:
      return "internal_server_error";
    case 502:
    case 503:
      return "application_error";
  }
}

/** Normalises a scripted Retry-After to its header value; dates become IMF-fixdate. */
export function retryAfterHeader(value: number | string): string {
  if (typeof value === "number") return String(value);
  if (/^\d+$/.test(value)) return value;
  return new Date(Date.parse(value)).toUTCString();
}
