import { z } from "zod";
import { providerIds } from "./providers.ts";

/**
 * Field schemas shared by several events. Events reuse these and add a `.describe()` only where
 * the field means something more specific in that event (e.g. "status before this refresh").
 */

/** ISO 8601 date-time with `Z` or an explicit offset. */
export const isoDateTime = z.iso.datetime({ offset: true }).describe("ISO 8601 date-time with offset");

export const connectionId = z.uuid().describe("Connection id (UUID)");

export const userId = z.uuid().describe("Id of the user who owns the connection (UUID)");

/**
 * Checked by shape, not against `providerIds`: a consumer that does not know a newly added
 * provider yet still takes its events (no new event version, no deploy order).
 */
export const providerName = z
  .string()
  .max(64)
  .regex(/^[a-z][a-z0-9-]*$/, "lowercase letters, digits and dashes, starting with a letter")
  .describe(`Provider key; today one of ${providerIds.join(", ")}`);

export const connectionStatuses = [
  "connected",
  "warning",
  "needs_reauth",
  "disconnected",
  "rate_limited",
  "revoked",
] as const;
export type ConnectionStatus = (typeof connectionStatuses)[number];

export const connectionStatus = z
  .enum(connectionStatuses)
  .describe(
    "Connection status: connected → warning (2nd failure) → needs_reauth / disconnected (3rd or permanent failure); rate_limited at the 5th transient failure; revoked by the user",
  );

/** Optional on every event that can be part of a scheduled run. */
export const jobRunId = z
  .uuid()
  .optional()
  .describe("Job run (from the tick) this work was part of; absent when not triggered by a schedule");

/** A count of things: a non-negative integer. */
export const count = z.int().nonnegative();

/** Machine-readable code in snake_case, e.g. invalid_grant, http_503, provider_misconfigured. */
export const code = z
  .string()
  .max(64)
  .regex(/^[a-z0-9][a-z0-9_]*$/, "lowercase letters, digits and underscores");

/** Human-readable text. Bounded so that a stray response body cannot bloat a message. */
export const text = (max: number) => z.string().min(1).max(max);
