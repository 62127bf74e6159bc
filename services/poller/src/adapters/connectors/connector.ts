/**
 * The one shape every platform connector has. A connector knows a platform's API (paths,
 * pagination, incremental cursors, payload shapes); the poll engine knows everything else
 * (claiming due work, tokens, shared rate limits, retries, storing records and cursors in one
 * transaction per page, events). Adding a seventh platform is adding one file that exports a
 * `Connector` and listing it in `connectors/index.ts`.
 */

import type { Communication } from "@syncwell/communication";
import type { ProviderId } from "@syncwell/contracts";

/** A platform record as stored: unique per (connection, resource, externalId). */
export type RawRecordInput = {
  externalId: string;
  /** The platform's payload (JSON), stored as-is; its hash tells added / updated / unchanged. */
  payload: unknown;
  /**
   * When the thing happened on the platform, if it has such a time (message date, play time).
   * An all-day Calendar event happened at midnight of its date in the calendar's time zone (the
   * instant its day began where the calendar is), not at UTC midnight.
   */
  occurredAt?: Date;
  /**
   * People involved, for records that are communication (Gmail From/To/Cc, Calendar organizer and
   * attendees). The engine matches the addresses against the user's contacts, case-insensitively,
   * and records a communication event per matched contact: outbound when `from` is the user.
   */
  communication?: Communication;
};

/** Where a resource's sync stands, as the engine stores it between polls (and between pages). */
export type SyncPosition = {
  /** The incremental cursor saved by the last completed poll (historyId, syncToken, after, ETag…); null = never synced. */
  cursor: string | null;
  /** Resume point inside a poll that has not finished (a page token); null = start of a poll. */
  pageToken: string | null;
};

/**
 * An item of a page that the connector cannot use (no id, no time it needs), left out of the
 * page's records. `reason` is short and bounded (a field and what is wrong with it, never the
 * item's content): the engine counts skipped items by it.
 */
export type SkippedItem = {
  /** The platform's id of the item, when it has a usable one (for the log line; never its content). */
  id: string | null;
  reason: string;
};

/** One page of a poll. */
export type Page = {
  records: RawRecordInput[];
  /** Items left out of `records` because the connector cannot use them; the rest of the page goes on. */
  skipped?: SkippedItem[];
  /** More pages follow in this poll: the engine saves it with this page's records and asks again. */
  nextPageToken: string | null;
  /** Set on the last page: the cursor the next poll starts from (kept unchanged if undefined). */
  nextCursor?: string | null;
  /** True when this poll lists everything (first sync, reset): records not seen in it are marked deleted. */
  fullListing: boolean;
  /** The platform said nothing changed (ETag 304): no records, cursor kept. */
  notModified?: boolean;
};

/** HTTP to a platform, provided by the engine: auth header, shared rate limit, timeouts, error mapping. */
export type PlatformHttp = {
  /**
   * GET `path` (relative to the platform's base URL) with query parameters and extra headers.
   * Resolves for 2xx and 304 with the parsed JSON body (null for 304/204) and the response
   * headers; throws a `PlatformError` (see errors.ts) for anything else.
   */
  get<T = unknown>(
    path: string,
    options?: {
      query?: Record<string, string | number | string[] | undefined>;
      headers?: Record<string, string>;
    },
  ): Promise<{ status: number; body: T; headers: Headers }>;
  /**
   * POST `body` to `path` (relative to the base URL) and resolve for 2xx with the response text,
   * unparsed (a batch answer is multipart, not JSON), and headers. `calls` is how many platform
   * calls the request carries (a batch of N): each takes its own slot of the shared rate limit
   * (default 1). Anything but 2xx throws a `PlatformError`, as for `get`.
   */
  post(
    path: string,
    request: { body: string; contentType: string; calls?: number; headers?: Record<string, string> },
  ): Promise<{ status: number; text: string; headers: Headers }>;
};

export type PollContext = {
  http: PlatformHttp;
  /** The connection's account identity where the platform needs it (e.g. GitHub login, Gmail address). */
  connection: { id: string; userId: string; providerAccountId: string | null; scopes: string[] };
  /** Start of the time window for platforms polled by window (Gmail first sync). */
  windowStart: Date;
  now: Date;
  signal: AbortSignal;
};

export type ResourceDefinition = {
  /** Resource name, unique within the platform, e.g. `messages`, `recently-played`. */
  name: string;
  /** Scopes the connection must have for this resource (any of them); empty = always. */
  requiredScopes?: string[];
  /** Fetch one page. Throw `CursorExpiredError` when the platform rejects the cursor (410, 404): the engine resets to a full sync. */
  fetchPage(ctx: PollContext, position: SyncPosition): Promise<Page>;
};

export type Connector = {
  /** Platform key, e.g. `gmail`, `calendar`, `youtube`, `spotify`, `github`, `discord`. */
  platform: string;
  /** The token service's provider whose access token this platform takes (`google` for Gmail). */
  provider: ProviderId;
  /** Real API base URL; overridable by `PLATFORM_<PLATFORM>_API_URL` for the simulator. */
  baseUrl: string;
  resources: ResourceDefinition[];
  /**
   * Whose quota a rate-limited answer (429, or GitHub's 403 with `x-ratelimit-remaining: 0`) says
   * is spent. `platform` (the default): the app's, so the whole platform waits, on every replica,
   * until its Retry-After. `connection`: the user's token's (GitHub's limits are per token), so
   * only this connection's resources of the platform wait and every other connection goes on.
   */
  rateLimitedPer?: "platform" | "connection";
};
