/**
 * JetStream streams, in one place. Subjects here are relative: the bus prefixes them (and the
 * stream names) with the deployment prefix so two deployments or test runs can share a server.
 */
export type StreamDefinition = {
  /** Stream name without prefix. */
  name: string;
  description: string;
  /** Relative subject patterns captured by the stream. */
  subjects: string[];
  /** Stored messages older than this are removed. */
  maxAgeMs: number;
  /** Window in which a repeated Nats-Msg-Id is dropped as duplicate. */
  duplicateWindowMs: number;
  /**
   * Upper bound on stored bytes. JetStream (2.9) reserves this much of the server's storage when
   * the stream is created, so the defaults stay modest (about 4.5 GiB for all streams); a
   * deployment sizes them with NATS_STREAM_MAX_BYTES.
   */
  maxBytes: number;
  /** Largest single message accepted. */
  maxMsgSize: number;
};

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

export const streams = {
  ticks: {
    name: "TICKS",
    description: "Schedule ticks from the scheduler (tick.<schedule>)",
    subjects: ["tick.>"],
    maxAgeMs: 7 * DAY,
    // Replicas of the scheduler may publish the same slot minutes apart after a restart.
    duplicateWindowMs: 15 * MINUTE,
    maxBytes: 256 * MiB,
    maxMsgSize: 64 * 1024,
  },
  tokens: {
    name: "TOKENS",
    description: "Token refresh outcomes from the token service",
    subjects: ["token.>"],
    maxAgeMs: 7 * DAY,
    duplicateWindowMs: 10 * MINUTE,
    maxBytes: 1 * GiB,
    maxMsgSize: 256 * 1024,
  },
  data: {
    name: "DATA",
    description: "Ingestion results from the poller",
    subjects: ["data.>"],
    maxAgeMs: 7 * DAY,
    duplicateWindowMs: 10 * MINUTE,
    maxBytes: 1 * GiB,
    maxMsgSize: 256 * 1024,
  },
  health: {
    name: "HEALTH",
    description: "Health status changes from the health scorer",
    subjects: ["health.>"],
    maxAgeMs: 7 * DAY,
    duplicateWindowMs: 10 * MINUTE,
    maxBytes: 512 * MiB,
    maxMsgSize: 256 * 1024,
  },
  notifications: {
    name: "NOTIFICATIONS",
    description: "Notifications created and delivered by the notifier",
    subjects: ["notification.>"],
    maxAgeMs: 7 * DAY,
    duplicateWindowMs: 10 * MINUTE,
    maxBytes: 512 * MiB,
    maxMsgSize: 256 * 1024,
  },
  operator: {
    name: "OPERATOR",
    description: "Alerts meant for the people running Syncwell (misconfiguration, exhausted providers)",
    subjects: ["operator.>"],
    maxAgeMs: 30 * DAY,
    duplicateWindowMs: 10 * MINUTE,
    maxBytes: 256 * MiB,
    maxMsgSize: 64 * 1024,
  },
  tokenJournal: {
    name: "TOKEN_JOURNAL",
    description:
      "The token service's journal of rotated refresh tokens not yet stored in Postgres (encrypted; not events): one message per answer, deleted once stored",
    subjects: ["token-journal.>"],
    // An entry unwritten for this long belongs to a refresh token the provider has long expired.
    maxAgeMs: 30 * DAY,
    duplicateWindowMs: 2 * MINUTE,
    maxBytes: 256 * MiB,
    maxMsgSize: 64 * 1024,
  },
  deadLetter: {
    name: "DEADLETTER",
    description: "Messages a consumer gave up on: original subject, headers and payload, with the reason",
    subjects: ["deadletter.>"],
    maxAgeMs: 30 * DAY,
    duplicateWindowMs: 10 * MINUTE,
    maxBytes: 1 * GiB,
    // Room for the original message plus the failure headers.
    maxMsgSize: 512 * 1024,
  },
} as const satisfies Record<string, StreamDefinition>;

export type StreamKey = keyof typeof streams;
export const streamList: StreamDefinition[] = Object.values(streams);

/** Subject a dead letter from `durable` is stored under (relative; the bus adds the prefix). */
export function deadLetterSubject(durable: string): string {
  return `deadletter.${durable}`;
}

function isValidSubject(tokens: string[]): boolean {
  return tokens.every((token, i) => token.length > 0 && (token !== ">" || i === tokens.length - 1));
}

/**
 * NATS subject matching: `*` matches exactly one token, a trailing `>` one or more tokens.
 * `subject` may itself contain wildcards; it then matches when every subject it stands for is
 * matched by `pattern` (so `tick.>` matches `tick.*`, but `tick.*` does not match `tick.>`).
 * Invalid subjects (empty tokens, `>` not last) match nothing.
 */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split(".");
  const s = subject.split(".");
  if (!isValidSubject(p) || !isValidSubject(s)) return false;
  for (let i = 0; i < p.length; i++) {
    const pt = p[i];
    const st = s[i];
    if (pt === ">") return st !== undefined;
    if (st === undefined || st === ">") return false;
    if (pt !== "*" && pt !== st) return false;
  }
  return p.length === s.length;
}

/**
 * The stream that captures a relative subject (or a subject pattern), if any. NATS refuses
 * overlapping stream subjects, and the contracts tests check that every event lands in exactly one.
 */
export function streamForSubject(relativeSubject: string): StreamDefinition | undefined {
  return streamList.find((stream) =>
    stream.subjects.some((pattern) => subjectMatches(pattern, relativeSubject)),
  );
}
