import { normalizeAddress, uuidv7 } from "@syncwell/contracts";
import { type Communication, communicationParties } from "../domain/participants.ts";

/** A possible communication event: the record, the other person's address, which way. */
export type CommunicationCandidate = {
  id: string;
  externalId: string;
  email: string;
  channel: "email" | "meeting";
  direction: "inbound" | "outbound";
  occurredAt: Date;
};

export type CommunicationItem = { externalId: string; communication: Communication; occurredAt: Date };

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
 * Every (record, counterpart address) of a page's messages and meetings, lowercased: the page
 * write keeps those whose address is one of the user's contacts (stored lowercased, so matching is
 * a plain equality) and records one communication event per record and contact, once — a record
 * seen again creates nothing new, while a contact added since is picked up the next time its
 * record is seen.
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
