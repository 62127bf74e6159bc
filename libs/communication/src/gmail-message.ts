import { parseAddress, parseAddressList } from "./address-list.ts";
import type { Communication } from "./participants.ts";
import { field } from "./payload-field.ts";

/**
 * Who a Gmail message (`messages.get`, as the API returns it and the poller stores it) involves:
 * its From, To and Cc headers. Null for a draft (never sent) and spam (not a relationship): they
 * are stored, but they are not communication. `fromSelf` when Gmail labels it SENT.
 *
 * Read leniently, as Google's types make every field optional: a message without headers involves
 * nobody (`from: null, to: []`), and a field of another type counts as absent. Whether the message
 * has a time is the caller's to check: communication of unknown time would claim it happened now.
 */
export function gmailMessageCommunication(message: unknown): Communication | null {
  const labels = stringsOf(field(message, "labelIds"));
  if (labels.includes("DRAFT") || labels.includes("SPAM")) return null;
  const headers = field(field(message, "payload"), "headers");
  const header = (name: string): string[] => {
    const values: string[] = [];
    for (const h of Array.isArray(headers) ? headers : []) {
      const headerName = field(h, "name");
      const value = field(h, "value");
      if (typeof value === "string" && typeof headerName === "string" && headerName.toLowerCase() === name) {
        values.push(value);
      }
    }
    return values;
  };
  return {
    channel: "email",
    from: parseAddress(header("from").join(", ")),
    to: parseAddressList([...header("to"), ...header("cc")].join(", ")),
    fromSelf: labels.includes("SENT"),
  };
}

function stringsOf(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];
}
