import { z } from "zod";
import { providerIds } from "./providers.ts";

export const faultStatuses = [400, 401, 429, 500, 502, 503] as const;

/** `Retry-After` is either delta-seconds or an HTTP-date (RFC 9110 §10.2.3). */
const retryAfterSchema = z.union([
  z.number().int().nonnegative(),
  z.string().refine((value) => /^\d+$/.test(value) || !Number.isNaN(Date.parse(value)), {
    message: "must be a number of seconds or an HTTP date",
  }),
]);

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
  z.strictObject({ kind: z.literal("latency"), ms: z.number().int().nonnegative().max(600_000) }),
  z.strictObject({ kind: z.literal("timeout") }),
  z.strictObject({ kind: z.literal("malformed") }),
  z.strictObject({ kind: z.literal("no_refresh_token") }),
]);

export type Fault = z.output<typeof faultSchema>;
export type FaultKind = Fault["kind"];

/** Which requests a scripted fault applies to; an absent field matches everything. */
export const faultMatchSchema = z.strictObject({
  provider: z.enum(providerIds).optional(),
  connectionKey: z.string().min(1).optional(),
  refreshToken: z.string().min(1).optional(),
});

export type FaultMatch = z.output<typeof faultMatchSchema>;

export type ScriptedFault = FaultMatch & {
  id: string;
  fault: Fault;
  /** Requests left to affect; null = until cleared. */
  remaining: number | null;
  createdAt: string;
};

export type FaultContext = {
  provider: string;
  connectionKey: string | null;
  refreshToken: string | null;
};

export function faultMatches(entry: ScriptedFault, ctx: FaultContext): boolean {
  if (entry.provider !== undefined && entry.provider !== ctx.provider) return false;
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
    case 429:
      return "rate_limit_exceeded";
    case 503:
      return "temporarily_unavailable";
    case 500:
    case 502:
      return "server_error";
  }
}

/** Normalises a scripted Retry-After to its header value; dates become IMF-fixdate. */
export function retryAfterHeader(value: number | string): string {
  if (typeof value === "number") return String(value);
  if (/^\d+$/.test(value)) return value;
  return new Date(Date.parse(value)).toUTCString();
}
