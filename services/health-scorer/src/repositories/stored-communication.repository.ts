import {
  type CommunicationCandidate,
  type CommunicationItem,
  communicationCandidates,
  communicationResources,
  selfAddressesOf,
  storedRecordCommunication,
} from "@syncwell/communication";
import { normalizeAddress } from "@syncwell/contracts";
import { lockCommunicationLinks, Prisma, type PrismaDb } from "@syncwell/db";
import { touchOpenDealsOfContacts } from "./deals.repository.ts";

/**
 * The communication a contact had before it existed: when a contact is created, or its address
 * changes, the user's Gmail messages and Calendar events already stored by the poller are matched
 * to it by the poller's own rules (`@syncwell/communication`), so its first score counts them. The
 * poller only links the records it writes; a record it already holds is linked to a new contact
 * when it changes or is seen again, which for old mail is never.
 */

/** A contact whose address is new to it: just created, or its email just changed. */
export type AddressedContact = { id: string; email: string };

export type LinkOutcome = {
  /** Events of the contacts' former addresses, removed. */
  unlinked: number;
  /** Events created from the stored records. */
  linked: number;
  /** Stored records read and matched. */
  recordsRead: number;
};

/** Stored records read and matched per statement: a page of Gmail metadata is a few MB at most. */
const PAGE_SIZE = 500;

/**
 * Up to this many addresses, Postgres returns only the records whose text holds one of them (a
 * necessary condition, see `prefilterAddresses`); beyond it (a bulk upsert), every stored record of
 * the user is read once, page by page, and matched in memory.
 */
const PREFILTER_MAX_ADDRESSES = 20;

/**
 * Links the user's stored, not deleted Gmail messages and Calendar events (those with a time) to
 * these contacts, as the poller would have had the contacts existed when it stored them: same
 * readers, same self addresses (the user's email and the connection's account), same direction.
 * A contact's history is the history of its address, so its existing events are removed first: a
 * changed address drops the old one's events and gains the new one's.
 *
 * Runs in the caller's transaction, after the contacts are written and before the commit, so the
 * rescoring that follows the commit sees the events. It first takes the user's communication-links
 * lock (`lockCommunicationLinks`), so a page the poller is writing now is either read here or
 * linked by the poller itself. A record and contact already linked (by the poller meanwhile, or
 * twice in the stored records) stays linked once (the unique key).
 */
export async function linkStoredCommunication(
  db: PrismaDb,
  userId: string,
  contacts: readonly AddressedContact[],
): Promise<LinkOutcome> {
  const outcome: LinkOutcome = { unlinked: 0, linked: 0, recordsRead: 0 };
  if (contacts.length === 0) return outcome;
  // Waits for the poller's page writes of this user under way; later ones wait for this commit.
  await lockCommunicationLinks(db, userId);
  outcome.unlinked = await db.$executeRaw`
    DELETE FROM communication_events
    WHERE contact_id = ANY (${contacts.map((c) => c.id)}::uuid[]) AND user_id = ${userId}::uuid`;
  if (outcome.unlinked > 0)
    await touchOpenDealsOfContacts(
      db,
      contacts.map((c) => c.id),
    );
  const byAddress = new Map<string, string>();
  for (const contact of contacts) {
    const address = normalizeAddress(contact.email);
    if (address !== null) byAddress.set(address, contact.id);
  }
  if (byAddress.size === 0) return outcome;
  const prefilter = prefilterAddresses([...byAddress.keys()]);
  for (const source of await communicationSources(db, userId)) {
    let after = "";
    for (;;) {
      const rows = await storedRecordsPage(db, source, after, prefilter);
      outcome.recordsRead += rows.length;
      const events = matchedEvents(rows, source, byAddress);
      if (events.length > 0) outcome.linked += await insertEvents(db, userId, source.connectionId, events);
      const last = rows.at(-1);
      if (last === undefined || rows.length < PAGE_SIZE) break;
      after = last.externalId;
    }
  }
  return outcome;
}

/** One resource of one of the user's connections whose records can be communication. */
type Source = { connectionId: string; platform: string; resource: string; selfAddresses: Set<string> };

async function communicationSources(db: PrismaDb, userId: string): Promise<Source[]> {
  const connections = await db.$queryRaw<
    Array<{ id: string; providerAccountId: string | null; userEmail: string }>
  >`
    SELECT c.id::text AS id, c.provider_account_id AS "providerAccountId", u.email AS "userEmail"
    FROM connections c JOIN users u ON u.id = c.user_id
    WHERE c.user_id = ${userId}::uuid
    ORDER BY c.id`;
  return connections.flatMap((connection) =>
    communicationResources.map(({ platform, resource }) => ({
      connectionId: connection.id,
      platform,
      resource,
      selfAddresses: selfAddressesOf(connection.userEmail, connection.providerAccountId),
    })),
  );
}

type StoredRow = { id: string; externalId: string; payload: unknown; occurredAt: Date };

/**
 * The next page of a source's records after `after`, in external id order: a range of the unique
 * index on (connection, platform, resource, external id), so every page costs its own rows only.
 */
async function storedRecordsPage(
  db: PrismaDb,
  source: Source,
  after: string,
  prefilter: string[] | null,
): Promise<StoredRow[]> {
  // The text is lowercased once per row (the OFFSET 0 keeps it from being inlined per address).
  const text = Prisma.sql`CROSS JOIN LATERAL (
      SELECT lower(replace(r.payload::text, ${KELVIN_SIGN}, 'k') COLLATE "C") AS lowered OFFSET 0) t`;
  const holdsAnAddress = Prisma.sql`AND EXISTS (
      SELECT 1 FROM unnest(${prefilter}::text[]) AS a(address) WHERE strpos(t.lowered, a.address) > 0)`;
  return db.$queryRaw<StoredRow[]>`
    SELECT r.id::text AS id, r.external_id AS "externalId", r.payload, r.occurred_at AS "occurredAt"
    FROM raw_records r ${prefilter === null ? Prisma.empty : text}
    WHERE r.connection_id = ${source.connectionId}::uuid AND r.platform = ${source.platform}
      AND r.resource = ${source.resource} AND r.external_id > ${after}
      AND r.deleted_at IS NULL AND r.occurred_at IS NOT NULL
      ${prefilter === null ? Prisma.empty : holdsAnAddress}
    ORDER BY r.external_id
    LIMIT ${PAGE_SIZE}`;
}

/** The one character JavaScript lowercases to ASCII (`k`) that is not ASCII itself. */
const KELVIN_SIGN = "\u212A";

/**
 * The addresses to prefilter stored records by, or null to read them all. A prefilter must never
 * leave out a record the rules would match: an address the readers find is a run of its header or
 * field (`normalizeAddress` only trims, unwraps `<…>` and `mailto:`, and lowercases), and the
 * payload's JSON text holds that run as written when it is printable ASCII without `"` or `\` (the
 * characters JSON escapes). Its letters may be in any case: the text is lowercased as JavaScript
 * lowercases them (`lower` under the "C" collation changes ASCII letters only, whatever the
 * database's locale, and the Kelvin sign is replaced first), so a non-ASCII address, which
 * JavaScript and Postgres might lowercase differently, is not prefiltered.
 */
export function prefilterAddresses(addresses: readonly string[]): string[] | null {
  if (addresses.length > PREFILTER_MAX_ADDRESSES) return null;
  return addresses.every((address) => /^[\x21-\x7e]+$/.test(address) && !/["\\]/.test(address))
    ? [...addresses]
    : null;
}

/** The events the rows make with these contacts (address → contact id), by the poller's rules. */
function matchedEvents(
  rows: readonly StoredRow[],
  source: Source,
  byAddress: ReadonlyMap<string, string>,
): Array<CommunicationCandidate & { contactId: string }> {
  const items: CommunicationItem[] = [];
  for (const row of rows) {
    const { platform, resource } = source;
    const communication = storedRecordCommunication({ platform, resource, payload: row.payload });
    // The record's id names it here: the events refer to the stored row.
    if (communication !== null) items.push({ externalId: row.id, communication, occurredAt: row.occurredAt });
  }
  return communicationCandidates(items, source.selfAddresses).flatMap((candidate) => {
    const contactId = byAddress.get(candidate.email);
    return contactId === undefined ? [] : [{ ...candidate, contactId }];
  });
}

/** Inserts the events not recorded yet; how many it inserted. */
async function insertEvents(
  db: PrismaDb,
  userId: string,
  connectionId: string,
  events: ReadonlyArray<CommunicationCandidate & { contactId: string }>,
): Promise<number> {
  return db.$executeRaw`
    INSERT INTO communication_events
      (id, user_id, contact_id, connection_id, raw_record_id, channel, direction, occurred_at)
    SELECT e.id, ${userId}::uuid, e.contact_id, ${connectionId}::uuid, e.raw_record_id, e.channel,
           e.direction, e.occurred_at
    FROM unnest(${events.map((e) => e.id)}::uuid[], ${events.map((e) => e.contactId)}::uuid[],
                ${events.map((e) => e.externalId)}::uuid[], ${events.map((e) => e.channel)}::text[],
                ${events.map((e) => e.direction)}::text[],
                ${events.map((e) => e.occurredAt.toISOString())}::timestamptz[])
      AS e(id, contact_id, raw_record_id, channel, direction, occurred_at)
    ON CONFLICT (raw_record_id, contact_id) DO NOTHING`;
}
