import type { Account } from "../../../data/account.ts";
import type { AccessTokenInfo } from "../../../grants.ts";
import { type DataResponse, platformError } from "../shared/errors.ts";

const GMAIL = "https://www.googleapis.com/auth/gmail";
/** Any of these lets a token read the mailbox (gmail.metadata with restrictions, see below). */
export const GMAIL_READ_SCOPES = [
  `${GMAIL}.readonly`,
  `${GMAIL}.modify`,
  `${GMAIL}.metadata`,
  "https://mail.google.com/",
] as const;

/** `userId` is `me` or the account's own address; anyone else's mailbox needs delegation. */
export function checkMailbox(userId: string | undefined, account: Account): DataResponse | null {
  if (userId === "me" || userId?.toLowerCase() === account.profile.email) return null;
  const message = `Delegation denied for ${userId ?? ""}`;
  return platformError("gmail", 403, { reason: "forbidden", message });
}

/** A token holding only gmail.metadata may not search or read bodies (Gmail answers 403). */
export function metadataOnly(grant: AccessTokenInfo): boolean {
  return !GMAIL_READ_SCOPES.some((scope) => scope !== `${GMAIL}.metadata` && grant.scopes.includes(scope));
}

/** Gmail's numeric page tokens: the position to continue after. */
export function gmailPageToken(value: number): string {
  return String(value).padStart(20, "0");
}

export function parseGmailPageToken(token: string | null): number | null | undefined {
  if (token === null || token === "") return undefined;
  return /^\d{1,20}$/.test(token) ? Number(token) : null;
}
