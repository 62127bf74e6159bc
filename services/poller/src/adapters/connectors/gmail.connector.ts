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
 * Metadata comes through Gmail's batch endpoint (`POST /batch/gmail/v1`): one `messages.get` per
 * id, up to 50 in one multipart request, each answered in its own part (matched by Content-ID)
 * and each counted against the rate limit. A part that is 404 is a message deleted since it was
 * listed (left out); any other failing part fails the page as the same call alone would have. A
 * message the connector cannot use (no id) is skipped with its reason; the page goes on.
 *
 * Records carry the From/To/Cc addresses as communication (not for drafts or spam), read by
 * `gmailMessageCommunication` of `@syncwell/communication`, which also reads them from stored
 * messages.
 */
import { randomUUID } from "node:crypto";
import { gmailMessageCommunication } from "@syncwell/communication";
import pLimit from "p-limit";
import { z } from "zod";
import type { Connector, Page, PollContext, RawRecordInput, SkippedItem, SyncPosition } from "./connector.ts";
import { CursorExpiredError, malformed, PlatformError, statusError } from "./errors.ts";
import { type EmbeddedResponse, multipartBoundary, parseHttpResponse, parseMultipart } from "./multipart.ts";
import { decodeState, encodeState, issueReason, parsePayload } from "./parse.ts";

const USER = "/gmail/v1/users/me";
const PAGE_SIZE = 100;
const HEADERS = ["From", "To", "Cc", "Subject", "Date"];
const METADATA_QUERY = `format=metadata&${HEADERS.map((name) => `metadataHeaders=${name}`).join("&")}`;
const BATCH_PATH = "/batch/gmail/v1";
/** Calls per batch: Google advises at most 50 for Gmail (it allows 100, and rate-limits big ones). */
const BATCH_SIZE = 50;
/** Batches in flight at once: a listed page (100 ids) in one go, yet gentle on the per-user quota. */
const BATCH_CONCURRENCY = 2;
/** `<response-item-7>` answers the part sent as `<item-7>`. */
const RESPONSE_ID = /^<?(?:response-)?item-(\d+)>?$/;

const SCOPE = "https://www.googleapis.com/auth/gmail";
const FULL_ACCESS = ["https://mail.google.com/", `${SCOPE}.modify`, `${SCOPE}.readonly`];
const METADATA_SCOPE = `${SCOPE}.metadata`;

const digits = z.string().regex(/^\d+$/, "must be a decimal number");

const profileBody = z.object({ emailAddress: z.string(), historyId: digits });

/** A listed message: only its id is fetched; a listing without one names nothing to fetch. */
const listed = z.object({ id: z.string().min(1) });

const listBody = z.object({
  messages: z.array(z.unknown()).nullable().optional(),
  nextPageToken: z.string().min(1).nullable().optional(),
});

const historyBody = z.object({
  history: z
    .array(
      z.object({
        messagesAdded: z
          .array(z.object({ message: z.unknown().nullable().optional() }))
          .nullable()
          .optional(),
      }),
    )
    .nullable()
    .optional(),
  nextPageToken: z.string().min(1).nullable().optional(),
  historyId: digits,
});

/** The ids of listed messages (`messages.list`, `history.list`), once each; entries without one are left out. */
function listedIds(messages: readonly unknown[] | null | undefined): string[] {
  const ids = new Set<string>();
  for (const message of messages ?? []) {
    if (listed.safeParse(message).success) ids.add((message as { id: string }).id);
  }
  return [...ids];
}

/**
 * What the connector needs of a message: its id. Google's types make every other field optional
 * and nullable; a message without `payload.headers` is stored without communication, and one
 * without `internalDate` takes its time from the `Date` header.
 */
const messageBody = z.object({
  id: z.string().min(1),
  labelIds: z.array(z.string()).nullable().optional(),
  internalDate: digits.nullable().optional(),
  payload: z
    .object({
      headers: z
        .array(z.object({ name: z.string().nullable().optional(), value: z.string().nullable().optional() }))
        .nullable()
        .optional(),
    })
    .nullable()
    .optional(),
});

type Fetched = { records: RawRecordInput[]; skipped: SkippedItem[] };

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
  const fetched = await fetchAll(ctx, listedIds(list.messages));
  const records = metadataOnly
    ? fetched.records.filter((record) => (record.occurredAt?.getTime() ?? windowStart) >= windowStart)
    : fetched.records;
  const { skipped } = fetched;
  const reachedWindowStart = metadataOnly && records.length < fetched.records.length;
  if (typeof list.nextPageToken === "string" && !reachedWindowStart) {
    const nextPageToken = encodeState({ historyId, page: list.nextPageToken });
    return { records, skipped, nextPageToken, fullListing: false };
  }
  return { records, skipped, nextPageToken: null, nextCursor: historyId, fullListing: false };
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
  const added = (history.history ?? []).flatMap((entry) =>
    (entry.messagesAdded ?? []).map((change) => change.message),
  );
  const { records, skipped } = await fetchAll(ctx, listedIds(added));
  if (typeof history.nextPageToken === "string") {
    return { records, skipped, nextPageToken: history.nextPageToken, fullListing: false };
  }
  return { records, skipped, nextPageToken: null, nextCursor: history.historyId, fullListing: false };
}

function isMetadataOnly(scopes: readonly string[]): boolean {
  return scopes.includes(METADATA_SCOPE) && !scopes.some((scope) => FULL_ACCESS.includes(scope));
}

/** Each message's metadata, in batches; messages deleted meanwhile are left out, unusable ones skipped. */
async function fetchAll(ctx: PollContext, ids: readonly string[]): Promise<Fetched> {
  const batches: string[][] = [];
  for (let i = 0; i < ids.length; i += BATCH_SIZE) batches.push(ids.slice(i, i + BATCH_SIZE));
  const limit = pLimit({ concurrency: BATCH_CONCURRENCY, rejectOnClear: true });
  try {
    const results = await limit.map(batches, (batch) => fetchBatch(ctx, batch));
    return {
      records: results.flatMap((result) => result.records),
      skipped: results.flatMap((result) => result.skipped),
    };
  } catch (error) {
    // One failure fails the page (a 429 especially): the queued batches would be wasted.
    limit.clearQueue();
    throw error;
  }
}

function messagePath(id: string): string {
  return `${USER}/messages/${encodeURIComponent(id)}`;
}

/** One batch of `messages.get`: the records of the messages that exist, in the order asked. */
async function fetchBatch(ctx: PollContext, ids: readonly string[]): Promise<Fetched> {
  const boundary = `batch_${randomUUID()}`;
  let body = "";
  for (const [i, id] of ids.entries()) {
    body += `--${boundary}\r\nContent-Type: application/http\r\nContent-ID: <item-${i}>\r\n\r\n`;
    body += `GET ${messagePath(id)}?${METADATA_QUERY}\r\n\r\n`;
  }
  body += `--${boundary}--\r\n`;
  const response = await ctx.http.post(BATCH_PATH, {
    body,
    contentType: `multipart/mixed; boundary=${boundary}`,
    calls: ids.length,
  });
  const answers = batchAnswers(response.text, response.headers.get("content-type"), ids);

  // A rate limit outranks the other failures: it is what the engine must slow down for.
  const failures: PlatformError[] = [];
  for (const [i, answer] of answers.entries()) {
    if (answer.status === 404 || (answer.status >= 200 && answer.status < 300)) continue;
    const what = `GET ${messagePath(ids[i] as string)} (in a batch)`;
    failures.push(statusError(what, answer.status, new Headers([...answer.headers]), answer.body));
  }
  const failure = failures.find((error) => error.kind === "rate_limited") ?? failures[0];
  if (failure !== undefined) throw failure;

  const records: RawRecordInput[] = [];
  const skipped: SkippedItem[] = [];
  for (const [i, answer] of answers.entries()) {
    // Listed, then deleted before we got to it: nothing to store.
    if (answer.status === 404) continue;
    const id = ids[i] as string;
    let json: unknown;
    try {
      json = JSON.parse(answer.body);
    } catch {
      throw malformed(`Gmail message ${id}`, `the batch part answering it (${answer.status}) is not JSON`);
    }
    const parsed = messageBody.safeParse(json);
    if (!parsed.success) {
      skipped.push({ id, reason: issueReason(parsed.error.issues[0]) });
      continue;
    }
    const message = json as z.input<typeof messageBody>;
    if (message.id !== id) throw malformed(`Gmail message ${id}`, `the batch answered message ${message.id}`);
    records.push(messageRecord(message));
  }
  return { records, skipped };
}

/** The batch answer's parts as responses, in the order of `ids` (parts may come in any order). */
function batchAnswers(text: string, contentType: string | null, ids: readonly string[]): EmbeddedResponse[] {
  const what = "Gmail batch answer";
  const parts = parseMultipart(text, multipartBoundary(contentType, what), what);
  const answers: Array<EmbeddedResponse | undefined> = new Array(ids.length);
  for (const part of parts) {
    const contentId = part.headers.get("content-id") ?? "";
    const match = RESPONSE_ID.exec(contentId);
    const index = match === null ? -1 : Number(match[1]);
    if (index < 0 || index >= ids.length) {
      throw malformed(
        what,
        `a part has ${contentId === "" ? "no Content-ID" : `the unknown Content-ID ${contentId}`}`,
      );
    }
    if (answers[index] !== undefined) throw malformed(what, `two parts answer ${contentId}`);
    answers[index] = parseHttpResponse(part.body, `${what}, part ${contentId}`);
  }
  return ids.map((id, i) => {
    const answer = answers[i];
    if (answer === undefined) throw malformed(what, `no part answers message ${id}`);
    return answer;
  });
}

function messageRecord(message: z.input<typeof messageBody>): RawRecordInput {
  const headers = message.payload?.headers ?? [];
  const header = (name: string): string[] => {
    const values: string[] = [];
    for (const h of headers) {
      if (typeof h.value === "string" && h.name?.toLowerCase() === name) values.push(h.value);
    }
    return values;
  };
  const occurredAt = messageTime(message.internalDate, header("date")[0]);
  const record: RawRecordInput = { externalId: message.id, payload: message };
  if (occurredAt === null) return record;
  record.occurredAt = occurredAt;
  // A draft or spam is stored, but is not communication (null). Nor is a message of unknown time
  // (above): its communication event would claim it happened now.
  const communication = gmailMessageCommunication(message);
  if (communication !== null) record.communication = communication;
  return record;
}

/** When Gmail received the message (`internalDate`), else when its `Date` header says it was sent. */
function messageTime(internalDate: string | null | undefined, dateHeader: string | undefined): Date | null {
  const ms = typeof internalDate === "string" ? Number(internalDate) : Date.parse(dateHeader ?? "");
  return Number.isNaN(ms) ? null : new Date(ms);
}

export const gmailConnector: Connector = {
  platform: "gmail",
  provider: "google",
  baseUrl: "https://gmail.googleapis.com",
  resources: [
    { name: "messages", requiredScopes: [...FULL_ACCESS, METADATA_SCOPE], fetchPage: fetchMessages },
  ],
};
