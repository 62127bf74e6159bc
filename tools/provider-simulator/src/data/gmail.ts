import type { gmail_v1 } from "@googleapis/gmail";
import { z } from "zod";
import {
  type Account,
  formatParticipant,
  type ParticipantRef,
  parseParticipant,
  resolveParticipant,
  SELF,
} from "./account.ts";
import type { DataItem, ResourceDataset, ResourceSpec } from "./dataset.ts";
import { createRng, DAY, HEX, HOUR, hashSeed, MINUTE, type Rng, timeline } from "./seed.ts";
import { utcString } from "./time.ts";
import { TOPICS } from "./words.ts";

/** Label sets shared between messages (no per-message arrays for generated mail). */
const LABELS = {
  inboxUnread: ["UNREAD", "IMPORTANT", "CATEGORY_PERSONAL", "INBOX"],
  inboxRead: ["IMPORTANT", "CATEGORY_PERSONAL", "INBOX"],
  updates: ["UNREAD", "CATEGORY_UPDATES", "INBOX"],
  sent: ["SENT"],
} as const;

/** A message; `id` is Gmail-style hex (time-ordered), `time` its internalDate. */
export type GmailMessage = DataItem & {
  threadId: string;
  from: ParticipantRef;
  to: readonly ParticipantRef[];
  cc: readonly ParticipantRef[];
  subject: string;
  snippet?: string;
  labels: readonly string[];
};

/** A mailbox address as the control API takes it: `Name <Mixed@Case.com>` or a bare address. */
export const addressSchema = z
  .string()
  .max(320)
  .refine((value) => parseParticipant(value) !== null, { message: "must be an e-mail address" });

const messageInput = z.strictObject({
  /** Sender; the account itself (a sent message) when absent but `to` is given. */
  from: addressSchema.optional(),
  /** Recipients; the account itself when absent but `from` is given. */
  to: z.array(addressSchema).max(100).optional(),
  cc: z.array(addressSchema).max(100).optional(),
  subject: z.string().max(998).optional(),
  snippet: z.string().max(500).optional(),
  labelIds: z
    .array(z.string().regex(/^[A-Za-z0-9_]+$/))
    .max(20)
    .optional(),
  /** Reply in an existing thread. */
  threadId: z
    .string()
    .regex(/^[0-9a-f]{16}$/)
    .optional(),
});

/** Gmail history ids are large, increasing numbers; each account's start at its own base. */
export function historyBase(account: Account): number {
  return 1_000_000 + (hashSeed(account.key, "history") % 8_000_000);
}

/** Message ids read like Gmail's: 16 hex digits that grow with time. */
function messageId(time: number, rng: Rng): string {
  return ((BigInt(time) << 20n) | BigInt(rng.int(1 << 20))).toString(16).padStart(16, "0");
}

const SUBJECTS = [
  (topic: string) => `Quick question about ${topic}`,
  (topic: string) => `Notes from ${topic}`,
  (topic: string) => `Following up on ${topic}`,
  (topic: string) => `Can we meet about ${topic}?`,
  (topic: string) => `Draft: ${topic}`,
  (topic: string) => `Re: ${topic}`,
] as const;

function generatedMessage(
  account: Account,
  rng: Rng,
  time: number,
  previous: readonly GmailMessage[],
): Omit<GmailMessage, "seq"> {
  const id = messageId(time, rng);
  const contact = (): ParticipantRef => rng.int(account.profile.contacts.length);
  const thread =
    previous.length > 0 && rng.chance(0.3)
      ? previous[previous.length - 1 - rng.int(Math.min(5, previous.length))]
      : undefined;
  const outbound = rng.chance(0.3);
  if (thread !== undefined) {
    // A reply: the other side of the thread answers.
    const inbound = thread.from !== SELF;
    return {
      id,
      time,
      threadId: thread.threadId,
      from: inbound ? SELF : (thread.to[0] ?? contact()),
      to: [inbound ? thread.from : contact()],
      cc: thread.cc,
      subject: thread.subject.startsWith("Re: ") ? thread.subject : `Re: ${thread.subject}`,
      labels: inbound ? LABELS.sent : LABELS.inboxUnread,
    };
  }
  const subject = rng.pick(SUBJECTS)(rng.pick(TOPICS));
  const cc = rng.chance(0.25) ? [contact()] : [];
  if (outbound)
    return { id, time, threadId: id, from: SELF, to: [contact()], cc, subject, labels: LABELS.sent };
  const labels = rng.chance(0.15) ? LABELS.updates : rng.chance(0.5) ? LABELS.inboxRead : LABELS.inboxUnread;
  const to = rng.chance(0.2) ? [SELF, contact()] : [SELF];
  return { id, time, threadId: id, from: contact(), to, cc, subject, labels };
}

export const gmailMessages: ResourceSpec<GmailMessage, z.output<typeof messageInput>> = {
  name: "gmail.messages",
  platform: "gmail",
  input: messageInput,
  expirable: true,
  seed({ account, rng, epoch }, count) {
    const out: GmailMessage[] = [];
    for (const time of timeline(rng, count, epoch - 2 * MINUTE, 10 * MINUTE, 30 * HOUR)) {
      out.push({ ...generatedMessage(account, rng, time, out), seq: 0 });
    }
    return out;
  },
  create({ account, rng }, input, at) {
    const dataset = account.datasets.get("gmail.messages") as ResourceDataset<GmailMessage> | undefined;
    const explicit =
      input.from !== undefined ||
      input.to !== undefined ||
      input.cc !== undefined ||
      input.subject !== undefined ||
      input.threadId !== undefined;
    const base = generatedMessage(account, rng, at, explicit ? [] : (dataset?.items.slice(-5) ?? []));
    if (!explicit && input.snippet === undefined && input.labelIds === undefined) return base;
    const self = account.profile.email.toLowerCase();
    const isSelf = (address: string): boolean => parseParticipant(address)?.email.toLowerCase() === self;
    const from: ParticipantRef = input.from ?? (input.to !== undefined ? SELF : base.from);
    const outbound = from === SELF || (typeof from === "string" && isSelf(from));
    const thread =
      input.threadId === undefined ? undefined : dataset?.items.find((m) => m.threadId === input.threadId);
    const message: Omit<GmailMessage, "seq"> = {
      ...base,
      threadId: input.threadId ?? base.id,
      from,
      to: input.to ?? (input.from !== undefined ? [SELF] : base.to),
      cc: input.cc ?? (explicit ? [] : base.cc),
      subject:
        input.subject ?? (thread !== undefined ? `Re: ${thread.subject.replace(/^Re: /, "")}` : base.subject),
      labels: input.labelIds ?? (outbound ? LABELS.sent : LABELS.inboxUnread),
    };
    if (input.snippet !== undefined) message.snippet = input.snippet;
    return message;
  },
  render(account, message) {
    return renderMessage(account, message, { format: "metadata", headers: null });
  },
};

// --- rendering --------------------------------------------------------------------------------

function snippetOf(account: Account, message: GmailMessage): string {
  if (message.snippet !== undefined) return message.snippet;
  const from = resolveParticipant(account, message.from);
  const first = (from.name ?? from.email).split(" ")[0];
  return `Hi, ${first} here. ${message.subject.replace(/^Re: /, "")} — let me know what you think.`;
}

function rfc2822(ms: number): string {
  return utcString(ms).replace(/GMT$/, "+0000");
}

function headersOf(account: Account, message: GmailMessage): Array<{ name: string; value: string }> {
  const address = (ref: ParticipantRef): string => formatParticipant(resolveParticipant(account, ref));
  const headers: Array<{ name: string; value: string }> = [];
  if (message.from !== SELF) headers.push({ name: "Delivered-To", value: account.profile.email });
  headers.push(
    { name: "Date", value: rfc2822(message.time) },
    { name: "From", value: address(message.from) },
    { name: "To", value: message.to.map(address).join(", ") },
  );
  if (message.cc.length > 0) headers.push({ name: "Cc", value: message.cc.map(address).join(", ") });
  const tag = createRng(hashSeed(message.id)).string(HEX, 12);
  headers.push(
    { name: "Subject", value: message.subject },
    { name: "Message-ID", value: `<CA+${tag}${message.id}@mail.gmail.com>` },
    { name: "MIME-Version", value: "1.0" },
    { name: "Content-Type", value: 'text/plain; charset="UTF-8"' },
  );
  return headers;
}

function bodyOf(account: Account, message: GmailMessage): string {
  const from = resolveParticipant(account, message.from);
  return `${snippetOf(account, message)}\r\n\r\n--\r\n${from.name ?? from.email}\r\n`;
}

export type GmailFormat = "minimal" | "metadata" | "full" | "raw";

/** users.messages.get in one of its formats; `headers` limits metadata headers (case-insensitive). */
export function renderMessage(
  account: Account,
  message: GmailMessage,
  options: { format: GmailFormat; headers: readonly string[] | null },
): gmail_v1.Schema$Message {
  const body = bodyOf(account, message);
  const out: gmail_v1.Schema$Message = {
    id: message.id,
    threadId: message.threadId,
    labelIds: [...message.labels],
    snippet: snippetOf(account, message),
    sizeEstimate: 600 + body.length + message.subject.length * 2,
    historyId: String(historyBase(account) + message.seq),
    internalDate: String(message.time),
  };
  if (options.format === "minimal") return out;
  let headers = headersOf(account, message);
  if (options.format === "raw") {
    const text = `${headers.map((h) => `${h.name}: ${h.value}`).join("\r\n")}\r\n\r\n${body}`;
    out.raw = Buffer.from(text, "utf8").toString("base64url");
    return out;
  }
  if (options.format === "metadata" && options.headers !== null && options.headers.length > 0) {
    const wanted = new Set(options.headers.map((h) => h.toLowerCase()));
    headers = headers.filter((h) => wanted.has(h.name.toLowerCase()));
  }
  out.payload =
    options.format === "metadata"
      ? { partId: "", mimeType: "text/plain", filename: "", headers, body: { size: 0 } }
      : {
          partId: "",
          mimeType: "text/plain",
          filename: "",
          headers,
          body: { size: Buffer.byteLength(body), data: Buffer.from(body, "utf8").toString("base64url") },
        };
  return out;
}

// --- search (messages.list `q`) ---------------------------------------------------------------

type Term = { negate: boolean; key: string | null; value: string };

function tokenize(q: string): Term[] {
  const terms: Term[] = [];
  for (const match of q.matchAll(/(-?)(?:(\w+):)?(?:"([^"]*)"|(\S+))/g)) {
    terms.push({
      negate: match[1] === "-",
      key: match[2]?.toLowerCase() ?? null,
      value: (match[3] ?? match[4] ?? "").toLowerCase(),
    });
  }
  return terms;
}

/** `2026/01/31`, `2026-01-31` or epoch seconds, as Gmail's after:/before: take them (UTC here). */
function parseDate(value: string): number | null {
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const m = /^(\d{4})[/-](\d{1,2})[/-](\d{1,2})$/.exec(value);
  return m === null ? null : Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
}

function parseAge(value: string): number | null {
  const m = /^(\d+)([dmyh])$/.exec(value);
  if (m === null) return null;
  const unit = { h: HOUR, d: DAY, m: 30 * DAY, y: 365 * DAY }[m[2] as "h" | "d" | "m" | "y"];
  return Number(m[1]) * unit;
}

/**
 * A predicate for Gmail's search syntax, the part a poller uses: after:/before:, newer_than:/
 * older_than:, from:/to:/cc:/subject:, in:/label:/is:/category:, quoted phrases, `-` to negate
 * and plain words (searched in subject and snippet). Other operators are ignored (match all).
 */
export function gmailSearch(account: Account, q: string, now: number): (message: GmailMessage) => boolean {
  const terms = tokenize(q);
  if (terms.length === 0) return () => true;
  const addresses = (refs: readonly ParticipantRef[]): string =>
    refs.map((ref) => formatParticipant(resolveParticipant(account, ref)).toLowerCase()).join(" ");
  const test = (term: Term, m: GmailMessage): boolean => {
    const v = term.value;
    switch (term.key) {
      case "after":
      case "before": {
        const at = parseDate(v);
        if (at === null) return true;
        return term.key === "after" ? m.time > at : m.time < at;
      }
      case "newer_than":
      case "older_than": {
        const age = parseAge(v);
        if (age === null) return true;
        return term.key === "newer_than" ? m.time > now - age : m.time < now - age;
      }
      case "from":
        return addresses([m.from]).includes(v === "me" ? account.profile.email : v);
      case "to":
        return addresses(m.to).includes(v === "me" ? account.profile.email : v);
      case "cc":
        return addresses(m.cc).includes(v);
      case "subject":
        return m.subject.toLowerCase().includes(v);
      case "in":
      case "label":
        return v === "anywhere" || m.labels.some((l) => l.toLowerCase() === v);
      case "is":
        return v === "read" ? !m.labels.includes("UNREAD") : m.labels.some((l) => l.toLowerCase() === v);
      case "category":
        return m.labels.some((l) => l.toLowerCase() === `category_${v}`);
      case null:
        return `${m.subject} ${snippetOf(account, m)}`.toLowerCase().includes(v);
      default:
        return true;
    }
  };
  return (m) => terms.every((term) => test(term, m) !== term.negate);
}
