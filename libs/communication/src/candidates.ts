import { normalizeAddress, uuidv7 } from "@syncwell/contracts";
import { type Communication, communicationParties } from "./participants.ts";

/** A possible communication event: the record, the other person's address, which way. */
export type CommunicationCandidate = {
  id: string;
  /** The item's `externalId`. */
  externalId: string;
  email: string;
  channel: "email" | "meeting";
  direction: "inbound" | "outbound";
  occurredAt: Date;
};

export type CommunicationItem = {
  /** What names the record to the caller: the platform's id in a page, a stored record's id. */
  externalId: string;
  communication: Communication;
  occurredAt: Date;
};

/** The user's own addresses: their Syncwell email and the connection's account id when it is an address. */
export function selfAddressesOf(userEmail: string, providerAccountId: string | null): Set<string> {
  const self = new Set<string>();
  for (const candidate of [userEmail, providerAccountId]) {
    const address = normalizeAddress(candidate);
    if (address) self.add(address);
  }
  return self;
}

/**
 * Every (record, counterpart address) of some messages and meetings, lowercased: the caller keeps
 * those whose address is one of the user's contacts (stored lowercased, so matching is a plain
 * equality) and records one communication event per record and contact, once. The poller does so
 * for each page it writes; the health scorer for the records already stored when a contact is
 * created or changes its address.
 */
export function communicationCandidates(
  items: readonly CommunicationItem[],
  selfAddresses: ReadonlySet<string>,
): CommunicationCandidate[] {
  const out: CommunicationCandidate[] = [];
  for (const item of items) {
    const { direction, counterparts } = communicationParties(item.communication, selfAddresses);
    for (const email of new Set(counterparts)) {
      out.push({
        id: uuidv7(),
        externalId: item.externalId,
        email,
        channel: item.communication.channel,
        direction,
        occurredAt: item.occurredAt,
      });
    }
  }
  return out;
}
