import type { gmail_v1 } from "@googleapis/gmail";
import { gmailMessages, gmailSearch } from "../../../data/gmail.ts";
import { dataRoute } from "../shared/endpoint.ts";
import { badRequest, platformError } from "../shared/errors.ts";
import { intParam } from "../shared/paging.ts";
import {
  checkMailbox,
  GMAIL_READ_SCOPES,
  gmailPageToken,
  metadataOnly,
  parseGmailPageToken,
} from "./mailbox.ts";

/**
 * `GET /gmail/v1/users/{userId}/messages?q=&labelIds=&maxResults=&pageToken=` — ids and thread ids,
 * newest first, `nextPageToken` while more match, `resultSizeEstimate`. Pages are keyed by
 * position, so mail arriving mid-listing never shifts a page.
 */
export const gmailMessagesListRoute = dataRoute({
  platform: "gmail",
  resource: gmailMessages.name,
  url: "/gmail/gmail/v1/users/:userId/messages",
  scopes: GMAIL_READ_SCOPES,
  handle({ query, params, grant, state, account, now }) {
    const denied = checkMailbox(params.userId, account);
    if (denied !== null) return denied;
    const q = query.get("q") ?? "";
    if (q !== "" && metadataOnly(grant)) {
      return platformError("gmail", 403, {
        reason: "forbidden",
        message: "Metadata scope does not support 'q' parameter",
      });
    }
    const maxResults = intParam(query, { name: "maxResults", default: 100, min: 1, max: 500, clamp: true });
    if (maxResults === null) return badRequest("gmail", "Invalid maxResults");
    const after = parseGmailPageToken(query.get("pageToken"));
    if (after === null) return badRequest("gmail", "Invalid pageToken");
    const labelIds = query.getAll("labelIds");

    const matches = gmailSearch(account, q, now);
    const matching = state.data
      .dataset(account, gmailMessages)
      .newestFirst()
      .filter((m) => labelIds.every((label) => m.labels.includes(label)) && matches(m));
    const start = after === undefined ? 0 : matching.findIndex((m) => m.seq < after);
    const page = start === -1 ? [] : matching.slice(start, start + maxResults);
    const body: gmail_v1.Schema$ListMessagesResponse = {};
    if (page.length > 0) body.messages = page.map((m) => ({ id: m.id, threadId: m.threadId }));
    const last = page[page.length - 1];
    if (last !== undefined && start + maxResults < matching.length)
      body.nextPageToken = gmailPageToken(last.seq);
    body.resultSizeEstimate = matching.length;
    return { status: 200, body };
  },
});
