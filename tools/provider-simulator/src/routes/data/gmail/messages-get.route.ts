import { type GmailFormat, gmailMessages, renderMessage } from "../../../data/gmail.ts";
import { dataRoute } from "../shared/endpoint.ts";
import { badRequest, platformError } from "../shared/errors.ts";
import { checkMailbox, GMAIL_READ_SCOPES, metadataOnly } from "./mailbox.ts";

const FORMATS: readonly GmailFormat[] = ["minimal", "metadata", "full", "raw"];

/**
 * `GET /gmail/v1/users/{userId}/messages/{id}?format=metadata&metadataHeaders=From&…` — one message:
 * `payload.headers` (From, To, Cc, Subject, Date, …; only the named ones with `metadataHeaders`),
 * `internalDate`, `historyId`, `labelIds`, `snippet`. `format` defaults to `full`.
 */
export const gmailMessagesGetRoute = dataRoute({
  platform: "gmail",
  resource: gmailMessages.name,
  url: "/gmail/gmail/v1/users/:userId/messages/:id",
  scopes: GMAIL_READ_SCOPES,
  handle({ query, params, grant, state, account }) {
    const denied = checkMailbox(params.userId, account);
    if (denied !== null) return denied;
    const format = (query.get("format") ?? "full").toLowerCase() as GmailFormat;
    if (!FORMATS.includes(format)) return badRequest("gmail", `Invalid value for format: ${format}`);
    if ((format === "full" || format === "raw") && metadataOnly(grant)) {
      return platformError("gmail", 403, {
        reason: "forbidden",
        message: `Metadata scope doesn't allow format ${format.toUpperCase()}`,
      });
    }
    const id = params.id ?? "";
    if (!/^[0-9a-f]{1,16}$/.test(id)) return badRequest("gmail", "Invalid id value");
    const message = state.data.dataset(account, gmailMessages).get(id);
    if (message === undefined) return platformError("gmail", 404);
    const headers = query.getAll("metadataHeaders");
    return {
      status: 200,
      body: renderMessage(account, message, { format, headers: headers.length > 0 ? headers : null }),
    };
  },
});
