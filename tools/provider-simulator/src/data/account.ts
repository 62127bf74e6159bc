import type { ProviderId } from "../providers.ts";
import type { DataItem, ResourceDataset } from "./dataset.ts";
import { createRng, hashSeed } from "./seed.ts";
import { COMPANY_DOMAINS, FIRST_NAMES, LAST_NAMES } from "./words.ts";

/** An e-mail correspondent or meeting attendee. The address keeps the case it was given in. */
export type Participant = { name: string | null; email: string };

/** Who the account belongs to at the platform, derived from the account's seed. */
export type AccountProfile = {
  firstName: string;
  lastName: string;
  displayName: string;
  /** The Google account's address (Gmail `emailAddress`, Calendar `self` attendee). */
  email: string;
  /** GitHub login / Spotify user id. */
  login: string;
  /** GitHub's numeric user id. */
  numericId: number;
  /** Correspondents of generated Gmail messages and Calendar events until the control API sets others. */
  contacts: Participant[];
};

/**
 * The platform-side account behind a connection: a user's data at Google, Spotify, GitHub or
 * Discord. Keyed by provider and connection key, so a reconnect (a new grant for the same
 * connection) finds the same mailbox, calendar and history, as it would at the real platform.
 */
export type Account = {
  key: string;
  provider: ProviderId;
  connectionKey: string;
  profile: AccountProfile;
  /** Current correspondents (Gmail From/To/Cc, Calendar attendees). */
  participants: Participant[];
  datasets: Map<string, ResourceDataset<DataItem>>;
  /** Changed through the control API: never evicted, since it could not be regenerated. */
  pinned: boolean;
};

/** A reference to a participant stored on an item: the account itself, an index, or an explicit address. */
export type ParticipantRef = number | string;
export const SELF: ParticipantRef = -1;

export function accountProfile(seed: string): AccountProfile {
  const rng = createRng(hashSeed("profile", seed));
  const firstName = rng.pick(FIRST_NAMES);
  const lastName = rng.pick(LAST_NAMES);
  const suffix = rng.chance(0.5) ? String(rng.between(1, 99)) : "";
  const contacts: Participant[] = [];
  const taken = new Set<string>([`${firstName} ${lastName}`]);
  while (contacts.length < 10) {
    const first = rng.pick(FIRST_NAMES);
    const last = rng.pick(LAST_NAMES);
    if (taken.has(`${first} ${last}`)) continue;
    taken.add(`${first} ${last}`);
    const domain = rng.chance(0.25) ? "gmail.com" : rng.pick(COMPANY_DOMAINS);
    const local = `${first}.${last}`;
    // People type addresses in all sorts of case; matching must not care.
    const email = rng.chance(0.2) ? `${local}@${domain}` : `${local}@${domain}`.toLowerCase();
    contacts.push({ name: `${first} ${last}`, email });
  }
  return {
    firstName,
    lastName,
    displayName: `${firstName} ${lastName}`,
    email: `${firstName}.${lastName}${suffix}@gmail.com`.toLowerCase(),
    login: `${firstName}${lastName}${suffix}`.toLowerCase(),
    numericId: 1_000_000 + rng.int(150_000_000),
    contacts,
  };
}

/** `Alice Smith <Alice@Example.com>`, `"Smith, Alice" <a@x.io>` or a bare address; null if no address. */
export function parseParticipant(text: string): Participant | null {
  const angle = /^\s*(?:"?([^"<]*?)"?\s*)?<([^<>\s]+@[^<>\s]+)>\s*$/.exec(text);
  if (angle !== null) {
    const name = (angle[1] ?? "").trim();
    return { name: name === "" ? null : name, email: angle[2] ?? "" };
  }
  const bare = text.trim();
  return /^[^\s@<>]+@[^\s@<>]+$/.test(bare) ? { name: null, email: bare } : null;
}

/** RFC 5322 mailbox: the display name is quoted when it holds specials. */
export function formatParticipant(participant: Participant): string {
  if (participant.name === null) return participant.email;
  const name = /[",;:<>@()[\]\\.]/.test(participant.name)
    ? `"${participant.name.replaceAll(/["\\]/g, "\\$&")}"`
    : participant.name;
  return `${name} <${participant.email}>`;
}

export function resolveParticipant(account: Account, ref: ParticipantRef): Participant {
  if (typeof ref === "string") return parseParticipant(ref) ?? { name: null, email: ref };
  if (ref < 0) return { name: account.profile.displayName, email: account.profile.email };
  const pool = account.participants.length > 0 ? account.participants : account.profile.contacts;
  return pool[ref % pool.length] as Participant;
}
