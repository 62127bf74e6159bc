import { normalizeAddress } from "@syncwell/contracts";

/**
 * The people of a record that is communication (a Gmail message's From/To/Cc, a Calendar event's
 * organizer and attendees), as the platform wrote them: matched to the user's contacts by
 * `communicationParties`, one communication event per record and contact.
 */
export type Communication = {
  channel: "email" | "meeting";
  /** Sender or organizer address (as written by the platform; any case). */
  from: string | null;
  /** Recipients or attendees. */
  to: string[];
  /** True when the platform marks the user as the sender/organizer (Calendar `organizer.self`). */
  fromSelf?: boolean;
};

export type CommunicationParties = {
  direction: "inbound" | "outbound";
  /** Addresses of the other people the user communicated with (lowercased, without the user). */
  counterparts: string[];
};

/**
 * Who the user communicated with in one message or meeting, and which way:
 * - the user sent it / organised it (`fromSelf`, or `from` is one of the user's addresses):
 *   outbound, to every recipient / attendee;
 * - an email someone else sent: inbound, from the sender only (other recipients did not write to
 *   the user);
 * - a meeting someone else organised: inbound, with the organiser and every other attendee (the
 *   user met them all).
 */
export function communicationParties(
  comm: Communication,
  selfAddresses: ReadonlySet<string>,
): CommunicationParties {
  const from = normalizeAddress(comm.from);
  const outbound = comm.fromSelf === true || (from !== null && selfAddresses.has(from));
  const recipients = new Set<string>();
  for (const raw of comm.to) {
    const address = normalizeAddress(raw);
    if (address !== null && !selfAddresses.has(address) && address !== from) recipients.add(address);
  }
  if (outbound) return { direction: "outbound", counterparts: [...recipients] };
  const sender = from !== null && !selfAddresses.has(from) ? [from] : [];
  if (comm.channel === "email") return { direction: "inbound", counterparts: sender };
  return { direction: "inbound", counterparts: [...sender, ...recipients] };
}
