import type { gmail_v1 } from "@googleapis/gmail";
import { gmailMessages, historyBase } from "../../../data/gmail.ts";
import { dataRoute } from "../shared/endpoint.ts";
import { badRequest, platformError } from "../shared/errors.ts";
import { intParam } from "../shared/paging.ts";
import { checkMailbox, GMAIL_READ_SCOPES, gmailPageToken, parseGmailPageToken } from "./mailbox.ts";

/**
 * `GET /gmail/v1/users/{userId}/history?startHistoryId=&pageToken=&maxResults=&historyTypes=&labelId=`
 * — mailbox changes after a history id, oldest first: each new message is a record with
 * `messages` and `messagesAdded`. Every page carries the mailbox's current `historyId`. A
 * start id older than the history Gmail still keeps (see `POST /_control/data/expire-cursors`)
 * answers 404: the client must do a full sync.
 */
export const gmailHistoryRoute = dataRoute({
  platform: "gmail",
  resource: "gmail.history",
  url: "/gmail/gmail/v1/users/:userId/history",
  scopes: GMAIL_READ_SCOPES,
  handle({ query, params, state, account }) {
    const denied = checkMailbox(params.userId, account);
    if (denied !== null) return denied;
    const raw = query.get("startHistoryId");
    if (raw === null || raw === "") return badRequest("gmail", "Missing startHistoryId");
    if (!/^\d{1,20}$/.test(raw)) return badRequest("gmail", "Invalid startHistoryId");
    const maxResults = intParam(query, { name: "maxResults", default: 100, min: 1, max: 500, clamp: true });
    if (maxResults === null) return badRequest("gmail", "Invalid maxResults");
    const resume = parseGmailPageToken(query.get("pageToken"));
    if (resume === null) return badRequest("gmail", "Invalid pageToken");

    const dataset = state.data.dataset(account, gmailMessages);
    const base = historyBase(account);
    const start = Number(raw) - base;
    if (start < dataset.floor) return platformError("gmail", 404);
    const current = String(base + dataset.seq);
    const types = query.getAll("historyTypes");
    if (types.length > 0 && !types.includes("messageAdded"))
      return { status: 200, body: { historyId: current } };

    const labelId = query.get("labelId");
    const changes = dataset
      .changedSince(resume === undefined ? start : Math.max(start, resume - base))
      .filter((m) => labelId === null || m.labels.includes(labelId));
    const page = changes.slice(0, maxResults);
    const body: gmail_v1.Schema$ListHistoryResponse = {};
    if (page.length > 0) {
      body.history = page.map((m) => ({
        id: String(base + m.seq),
        messages: [{ id: m.id, threadId: m.threadId }],
        messagesAdded: [{ message: { id: m.id, threadId: m.threadId, labelIds: [...m.labels] } }],
      }));
    }
    const last = page[page.length - 1];
    if (last !== undefined && changes.length > maxResults)
      body.nextPageToken = gmailPageToken(base + last.seq);
    body.historyId = current;
    return { status: 200, body };
  },
});
