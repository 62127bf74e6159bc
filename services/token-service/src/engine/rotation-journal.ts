import { randomUUID } from "node:crypto";
import { JetStreamApiError, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { Naming } from "@syncwell/bus";
import { streams } from "@syncwell/contracts";
import type { TokenCipher } from "@syncwell/credentials";
import type { Logger } from "@syncwell/telemetry";

/** A provider's answer that rotated a refresh token: everything needed to store it later. */
export type RotatedAnswer = {
  connectionId: string;
  userId: string;
  provider: string;
  /** The refresh token the request presented: the answer applies only to a row still holding it. */
  usedRefreshToken: string;
  accessToken: string;
  refreshToken: string;
  expiresIn?: number;
  scope?: string;
  /** ISO time the answer arrived (the access token's expiry counts from it). */
  receivedAt: string;
  jobRunId?: string;
};

/** One journal message: the answers of one group write. */
export type JournalEntry = { seq: number; answers: RotatedAnswer[] };

const SUBJECT = "token-journal.answers";
/**
 * Stream API errors for a message already gone (another replica applied and removed it):
 * nats-server 2.9 answers 10057 to a delete of a removed sequence, later ones 10037.
 */
const NO_MESSAGE_FOUND = new Set([10037, 10057]);

/**
 * The journal of rotated refresh tokens not yet stored in Postgres, in a JetStream stream
 * (`TOKEN_JOURNAL`, file storage): Postgres may be down when the answer arrives, and the process may
 * die before it returns, but a provider that rotated will never give the new token again. An answer
 * is recorded here before anything else happens to it and removed once its row is written; any
 * replica applies what it finds (at start, and for the connections it claims), so a token
 * survives a Postgres outage, a restart and a crash.
 *
 * Each message holds the answers that arrived while the previous write was out (group commit: one
 * JetStream write for several answers), as one ciphertext of the service's token cipher
 * (AES-256-GCM with a key id): the tokens never reach NATS in the clear. A message is deleted once
 * all its answers are stored.
 */
export class RotationJournal {
  readonly stream: string;
  private readonly js: JetStreamClient;
  private readonly jsm: JetStreamManager;
  private readonly naming: Naming;
  private readonly cipher: TokenCipher;
  private readonly logger: Logger;
  private readonly timeoutMs: number;

  constructor(options: {
    js: JetStreamClient;
    jsm: JetStreamManager;
    naming: Naming;
    cipher: TokenCipher;
    logger: Logger;
    /** Bound on one journal write. */
    timeoutMs?: number;
  }) {
    this.js = options.js;
    this.jsm = options.jsm;
    this.naming = options.naming;
    this.cipher = options.cipher;
    this.logger = options.logger;
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.stream = options.naming.stream(streams.tokenJournal);
  }

  /** Records answers durably (acknowledged by JetStream); resolves the message's sequence number. */
  async record(answers: readonly RotatedAnswer[], msgID: string = randomUUID()): Promise<number> {
    const payload = this.cipher.encrypt(JSON.stringify(answers));
    const ack = await this.js.publish(this.naming.subject(SUBJECT), payload, {
      msgID,
      timeout: this.timeoutMs,
    });
    return ack.seq;
  }

  /** Removes a message; one already removed (by another replica) is not an error. */
  async remove(seq: number): Promise<void> {
    try {
      await this.jsm.streams.deleteMessage(this.stream, seq, false);
    } catch (err) {
      if (err instanceof JetStreamApiError && NO_MESSAGE_FOUND.has(err.code)) return;
      throw err;
    }
  }

  /** Messages holding an answer for any of these connections, oldest first (whole messages). */
  async pendingFor(connectionIds: readonly string[]): Promise<JournalEntry[]> {
    const wanted = new Set(connectionIds);
    return (await this.pending()).filter((entry) => entry.answers.some((a) => wanted.has(a.connectionId)));
  }

  /** Every message, oldest first. */
  async pending(): Promise<JournalEntry[]> {
    if ((await this.size()) === 0) return [];
    return this.read();
  }

  /** Messages in the journal now (written and not yet removed, by any replica). */
  async size(): Promise<number> {
    return (await this.jsm.streams.info(this.stream)).state.messages;
  }

  /** Reads the journal with an ordered consumer (removed messages are skipped). */
  private async read(): Promise<JournalEntry[]> {
    const consumer = await this.js.consumers.get(this.stream, {
      filter_subjects: this.naming.subject(SUBJECT),
    });
    const entries: JournalEntry[] = [];
    try {
      for (;;) {
        const msg = await consumer.next({ expires: 1_000 });
        if (!msg) break;
        const answers = this.decode(msg.string(), msg.seq);
        if (answers) entries.push({ seq: msg.seq, answers });
        if (msg.info.pending === 0) break;
      }
    } finally {
      await consumer.delete().catch(() => undefined);
    }
    return entries;
  }

  /**
   * An entry this replica cannot read (its key was removed from TOKEN_ENCRYPTION_KEYS, or it is
   * not ours) is left in place for a replica that can, and said so.
   */
  private decode(payload: string, seq: number): RotatedAnswer[] | undefined {
    try {
      const answers = JSON.parse(this.cipher.decrypt(payload)) as RotatedAnswer[];
      const readable = (a: RotatedAnswer) =>
        typeof a?.connectionId === "string" && typeof a.refreshToken === "string";
      if (Array.isArray(answers) && answers.every(readable)) return answers;
    } catch {
      // reported below
    }
    this.logger.error(
      { stream: this.stream, seq },
      "a journaled refresh-token answer cannot be read (is its key still in TOKEN_ENCRYPTION_KEYS?); left in the journal",
    );
    return undefined;
  }
}
