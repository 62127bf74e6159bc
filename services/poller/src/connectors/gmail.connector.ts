/**
 * Gmail API v1. `messages`, incremental by history id, as Google's sync guide describes:
 *
 * - Full sync (no cursor, or after a reset): take the mailbox's current `historyId` from the
 *   profile first (so nothing that arrives while we list is lost), then list the messages of the
 *   time window (`q=after:<epoch s>`) page by page and fetch each one's metadata. The historyId
 *   rides in the page token until the last page makes it the cursor. Not a full listing: older
 *   mail outside the window is not deleted.
 * - Incremental: `history.list?startHistoryId=<cursor>&historyTypes=messageAdded`, fetch the added
 *   messages' metadata; the last page's `historyId` is the next cursor. A 404 means Gmail no longer
 *   has that history: `CursorExpiredError`, and the engine starts a full sync.
 *
 * Records carry the From/To/Cc addresses as communication (not for drafts or spam).
 */
import pLimit from "p-limit";
import { z } from "zod";
import type { Connector, Page, PollContext, RawRecordInput, SyncPosition } from "./connector.ts";
import { CursorExpiredError, PlatformError } from "./errors.ts";
import { decodeState, encodeState, parseAddress, parseAddressList, parsePayload } from "./parse.ts";

const USER = "/gmail/v1/users/me";
const PAGE_SIZE = 100;
/** Metadata requests in flight at once per page: quick, yet gentle on the per-user quota. */
const FETCH_CONCURRENCY = 8;
const HEADERS = ["From", "To", "Cc", "Subject", "Date"];

const SCOPE = "https://www.googleapis.com/auth/gmail";
const FULL_ACCESS = ["https://mail.google.com/", `${SCOPE}.modify`, `${SCOPE}.readonly`];
const METADATA_SCOPE = `${SCOPE}.metadata`;

const digits = z.string().regex(/^\d+$/, "must be a decimal number");

const profileBody = z.looseObject({ emailAddress: z.string(), historyId: digits });

const listBody = z.looseObject({
  messages: z.array(z.looseObject({ id: z.string().min(1), threadId: z.string() })).optional(),
  nextPageToken: z.string().min(1).optional(),
});

const historyBody = z.looseObject({
  history: z
    .array(
      z.looseObject({
        id: digits,
        messagesAdded: z
          .array(z.looseObject({ message: z.looseObject({ id: z.string().min(1), threadId: z.string() }) }))
          .optional(),
      }),
    )
    .optional(),
  nextPageToken: z.string().min(1).optional(),
  historyId: digits,
});

const messageBody = z.looseObject({
  id: z.string().min(1),
  threadId: z.string(),
  labelIds: z.array(z.string()).optional(),
  internalDate: digits,
  payload: z.looseObject({ headers: z.array(z.looseObject({ name: z.string(), value: z.string() })) }),
});

/** A full sync past its first page: the historyId taken before it began, and Gmail's page token. */
const fullSyncState = z.object({ historyId: digits, page: z.string().min(1) });

async function fetchMessages(ctx: PollContext, position: SyncPosition): Promise<Page> {
  return position.cursor === null ? fullSyncPage(ctx, position.pageToken) : historyPage(ctx, position);
}

async function fullSyncPage(ctx: PollContext, pageToken: string | null): Promise<Page> {
  const state = decodeState(fullSyncState, pageToken);
  let historyId = state?.historyId;
  if (historyId === undefined) {
    const { body } = await ctx.http.get(`${USER}/profile`);
    historyId = parsePayload(profileBody, body, "Gmail profile").historyId;
  }
  // The metadata scope forbids `q`: then list newest first and stop at the window's start.
  const metadataOnly = isMetadataOnly(ctx.connection.scopes);
  const windowStart = ctx.windowStart.getTime();
  const { body } = await ctx.http.get(`${USER}/messages`, {
    query: {
      q: metadataOnly ? undefined : `after:${Math.floor(windowStart / 1000)}`,
      maxResults: PAGE_SIZE,
      pageToken: state?.page,
    },
  });
  const list = parsePayload(listBody, body, "Gmail messages page");
  const fetched = await fetchAll(
    ctx,
    (list.messages ?? []).map((message) => message.id),
  );
  const records = metadataOnly
    ? fetched.filter((record) => (record.occurredAt?.getTime() ?? windowStart) >= windowStart)
    : fetched;
  const reachedWindowStart = metadataOnly && records.length < fetched.length;
  if (list.nextPageToken !== undefined && !reachedWindowStart) {
    return {
      records,
      nextPageToken: encodeState({ historyId, page: list.nextPageToken }),
      fullListing: false,
    };
  }
  return { records, nextPageToken: null, nextCursor: historyId, fullListing: false };
}

async function historyPage(ctx: PollContext, position: SyncPosition): Promise<Page> {
  const cursor = position.cursor as string;
  let body: unknown;
  try {
    ({ body } = await ctx.http.get(`${USER}/history`, {
      query: {
        startHistoryId: cursor,
        historyTypes: "messageAdded",
        maxResults: PAGE_SIZE,
        pageToken: position.pageToken ?? undefined,
      },
    }));
  } catch (error) {
    if (error instanceof PlatformError && error.status === 404) {
      throw new CursorExpiredError(`Gmail history ${cursor} is no longer available`, { cause: error });
    }
    throw error;
  }
  const history = parsePayload(historyBody, body, "Gmail history page");
  const added = new Set<string>();
  for (const entry of history.history ?? []) {
    for (const { message } of entry.messagesAdded ?? []) added.add(message.id);
  }
  const records = await fetchAll(ctx, [...added]);
  if (history.nextPageToken !== undefined) {
    return { records, nextPageToken: history.nextPageToken, fullListing: false };
  }
  return { records, nextPageToken: null, nextCursor: history.historyId, fullListing: false };
}

function isMetadataOnly(scopes: readonly string[]): boolean {
  return scopes.includes(METADATA_SCOPE) && !scopes.some((scope) => FULL_ACCESS.includes(scope));
}

/** Each message's metadata, a few requests at a time; messages deleted meanwhile are skipped. */
async function fetchAll(ctx: PollContext, ids: readonly string[]): Promise<RawRecordInput[]> {
  const limit = pLimit({ concurrency: FETCH_CONCURRENCY, rejectOnClear: true });
  try {
    const records = await limit.map(ids, (id) => fetchMessage(ctx, id));
    return records.filter((record): record is RawRecordInput => record !== null);
  } catch (error) {
    // One failure fails the page (a 429 especially): the queued requests would be wasted.
    limit.clearQueue();
    throw error;
  }
}

async function fetchMessage(ctx: PollContext, id: string): Promise<RawRecordInput | null> {
  let body: unknown;
  try {
    ({ body } = await ctx.http.get(`${USER}/messages/${encodeURIComponent(id)}`, {
      query: { format: "metadata", metadataHeaders: HEADERS },
    }));
  } catch (error) {
    // Listed, then deleted before we got to it: nothing to store.
    if (error instanceof PlatformError && error.status === 404) return null;
    throw error;
  }
  const message = parsePayload(messageBody, body, `Gmail message ${id}`);
  return messageRecord(message);
}

function messageRecord(message: z.output<typeof messageBody>): RawRecordInput {
  const header = (name: string): string[] =>
    message.payload.headers.filter((h) => h.name.toLowerCase() === name).map((h) => h.value);
  const labels = message.labelIds ?? [];
  const record: RawRecordInput = {
    externalId: message.id,
    payload: message,
    occurredAt: new Date(Number(message.internalDate)),
  };
  // A draft was never sent and spam is not a relationship: stored, but not communication.
  if (!labels.includes("DRAFT") && !labels.includes("SPAM")) {
    record.communication = {
      channel: "email",
      from: parseAddress(header("from").join(", ")),
      to: parseAddressList([...header("to"), ...header("cc")].join(", ")),
      fromSelf: labels.includes("SENT"),
    };
  }
  return record;
}

export const gmailConnector: Connector = {
  platform: "gmail",
  provider: "google",
  baseUrl: "https://gmail.googleapis.com",
  resources: [
    { name: "messages", requiredScopes: [...FULL_ACCESS, METADATA_SCOPE], fetchPage: fetchMessages },
  ],
};
