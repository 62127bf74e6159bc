import { batchRoute } from "../shared/batch.ts";
import { gmailHistoryRoute } from "./history.route.ts";
import { gmailMessagesGetRoute } from "./messages-get.route.ts";
import { gmailMessagesListRoute } from "./messages-list.route.ts";
import { gmailProfileRoute } from "./profile.route.ts";

/**
 * `POST /batch/gmail/v1` — up to 100 Gmail calls in one `multipart/mixed` request (Google
 * recommends at most 50), e.g. one `messages.get` per id of a listed page; each call counts
 * against the rate limit and is logged on its own (see shared/batch.ts).
 */
export const gmailBatchRoute = batchRoute({
  platform: "gmail",
  url: "/gmail/batch/gmail/v1",
  routes: [gmailMessagesListRoute, gmailMessagesGetRoute, gmailHistoryRoute, gmailProfileRoute],
});
