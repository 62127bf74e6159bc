/**
 * GitHub REST API.
 *
 * - `events`: `GET /users/{login}/events` (there is no `/user/events`; for the token's own user
 *   it includes private events). The cursor is the first page's ETag: the next poll asks with
 *   `If-None-Match` and a 304 means nothing happened (and costs no rate limit). When something
 *   did, every page GitHub still holds (at most 300 events) is read again through the Link
 *   header; records are idempotent, so repeated events count as unchanged. Not a full listing:
 *   events age out of the feed without being deleted.
 * - `repositories`: `GET /user/repos`, Link-header paged, listed in full every poll so a deleted
 *   repository is marked deleted. No ETag here: the first page's ETag does not change when a
 *   later page does, so a 304 on page one would hide changes.
 */
import { z } from "zod";
import type { Connector, Page, PollContext, RawRecordInput, SyncPosition } from "./connector.ts";
import { decodeState, encodeState, nextLinkParam, parseItems, parsePayload } from "./parse.ts";

const PER_PAGE = 100;

/**
 * A login as it may appear in a path: GitHub's description puts no pattern on `login`, and
 * managed users' logins hold an underscore (`jane_acme`), so this only keeps out what cannot be
 * one path segment.
 */
const LOGIN = /^[^\s/?#%]{1,100}$/;

const userBody = z.object({ login: z.string().regex(LOGIN) });

/**
 * The login whose events to read: the connection's account id when it is a login, else `GET
 * /user`. A purely numeric account id is GitHub's numeric user id, not a login.
 */
async function resolveLogin(ctx: PollContext): Promise<string> {
  const account = ctx.connection.providerAccountId;
  if (account !== null && LOGIN.test(account) && !/^\d+$/.test(account)) return account;
  const { body } = await ctx.http.get("/user");
  return parsePayload(userBody, body, "GitHub user").login;
}

/**
 * What the connector needs of an event: its id. The description makes `type` and `created_at`
 * nullable and lists event types this code never heard of; such events are stored all the same
 * (without a time when `created_at` is null).
 */
const eventSchema = z.object({
  id: z.string().min(1),
  created_at: z.iso.datetime({ offset: true }).nullable().optional(),
});

/** A poll past its first page: which login, which page, and the first page's ETag (the cursor to keep). */
const eventsState = z.object({
  login: z.string().regex(LOGIN),
  page: z.string().regex(/^\d+$/),
  etag: z.string().nullable(),
});

async function fetchEvents(ctx: PollContext, position: SyncPosition): Promise<Page> {
  const state = decodeState(eventsState, position.pageToken);
  const login = state?.login ?? (await resolveLogin(ctx));
  const path = `/users/${encodeURIComponent(login)}/events`;
  const response = await ctx.http.get(path, {
    query: { per_page: PER_PAGE, page: state?.page },
    // Only page one is conditional: its ETag is the cursor.
    headers: state === null && position.cursor !== null ? { "If-None-Match": position.cursor } : {},
  });
  if (response.status === 304)
    return { records: [], nextPageToken: null, fullListing: false, notModified: true };

  const list = parsePayload(z.array(z.unknown()), response.body, `GitHub events page ${state?.page ?? "1"}`);
  const { items, skipped } = parseItems(eventSchema, list);
  const records = items.map(
    (event): RawRecordInput => ({
      externalId: event.id,
      payload: event,
      ...(typeof event.created_at === "string" ? { occurredAt: new Date(event.created_at) } : {}),
    }),
  );
  const etag = state === null ? response.headers.get("etag") : state.etag;
  const nextPage = nextLinkParam(response.headers, "page");
  if (nextPage !== null && list.length > 0) {
    const nextPageToken = encodeState({ login, page: nextPage, etag });
    return { records, skipped, nextPageToken, fullListing: false };
  }
  // Without an ETag the old one is stale: null makes the next poll unconditional.
  return { records, skipped, nextPageToken: null, nextCursor: etag, fullListing: false };
}

/** What the connector needs of a repository: its numeric id. */
const repoSchema = z.object({ id: z.number().int().nonnegative() });

async function fetchRepositories(ctx: PollContext, position: SyncPosition): Promise<Page> {
  const page = position.pageToken !== null && /^\d+$/.test(position.pageToken) ? position.pageToken : "1";
  const response = await ctx.http.get("/user/repos", { query: { per_page: PER_PAGE, page } });
  const list = parsePayload(z.array(z.unknown()), response.body, `GitHub repositories page ${page}`);
  const { items, skipped } = parseItems(repoSchema, list);
  const nextPage = list.length > 0 ? nextLinkParam(response.headers, "page") : null;
  return {
    records: items.map((repo) => ({ externalId: String(repo.id), payload: repo })),
    skipped,
    nextPageToken: nextPage,
    fullListing: true,
  };
}

export const githubConnector: Connector = {
  platform: "github",
  provider: "github",
  baseUrl: "https://api.github.com",
  resources: [
    { name: "events", fetchPage: fetchEvents },
    { name: "repositories", fetchPage: fetchRepositories },
  ],
  // GitHub's rate limits (primary and secondary) are per user token: one user's exhausted quota
  // is no reason for everyone else's connections to wait.
  rateLimitedPer: "connection",
};
