import type { gmail_v1 } from "@googleapis/gmail";
import { gmailMessages, historyBase } from "../../../data/gmail.ts";
import { dataRoute } from "../shared/endpoint.ts";
import { checkMailbox, GMAIL_READ_SCOPES } from "./mailbox.ts";

/** `GET /gmail/v1/users/{userId}/profile` — address, totals and the current `historyId` (where a full sync's history starts). */
export const gmailProfileRoute = dataRoute({
  platform: "gmail",
  resource: "gmail.profile",
  url: "/gmail/gmail/v1/users/:userId/profile",
  scopes: GMAIL_READ_SCOPES,
  handle({ params, state, account }) {
    const denied = checkMailbox(params.userId, account);
    if (denied !== null) return denied;
    const dataset = state.data.dataset(account, gmailMessages);
    const profile: gmail_v1.Schema$Profile = {
      emailAddress: account.profile.email,
      messagesTotal: dataset.size,
      threadsTotal: new Set(dataset.items.map((m) => m.threadId)).size,
      historyId: String(historyBase(account) + dataset.seq),
    };
    return { status: 200, body: profile };
  },
});
