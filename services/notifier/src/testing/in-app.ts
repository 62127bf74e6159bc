// Shared by the in-app API's tests: signing keys and tokens as the app's backend would make them,
// users and stored notifications, and a Server-Sent Events client over real HTTP. Not imported by
// production code.
import { randomUUID } from "node:crypto";
import http from "node:http";
import { uuidv7 } from "@syncwell/contracts";
import type { Queryable } from "@syncwell/db";
import { type CryptoKey, exportJWK, generateKeyPair, type JWTPayload, SignJWT } from "jose";

export const AUDIENCE = "syncwell-notifier-test";

/** Two HS256 secrets valid at once (a rotation), and an ES256 key pair whose public half is configured. */
export const SECRET_A = "in-app-secret-a-0123456789abcdef-0123456789";
export const SECRET_B = "in-app-secret-b-fedcba9876543210-9876543210";

export type SigningKeys = {
  es256: { privateKey: CryptoKey; publicJwk: Record<string, unknown> };
  /** The notifier's variables for these keys. */
  env: Record<string, string>;
};

export async function signingKeys(): Promise<SigningKeys> {
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  const publicJwk = { ...(await exportJWK(publicKey)), kid: "es-1", alg: "ES256", use: "sig" };
  return {
    es256: { privateKey, publicJwk },
    env: {
      NOTIFY_JWT_KEYS: `a:${SECRET_A},b:${SECRET_B}`,
      NOTIFY_JWT_PUBLIC_KEYS: JSON.stringify({ keys: [publicJwk] }),
      NOTIFY_JWT_AUDIENCE: AUDIENCE,
    },
  };
}

type TokenOptions = {
  key?: Uint8Array | CryptoKey;
  alg?: string;
  kid?: string | null;
  audience?: string;
  /** Seconds from now; negative is past; null: no expiry at all. */
  expiresIn?: number | null;
  claims?: JWTPayload;
};

/** A token for the user, HS256 with secret A (kid a) unless told otherwise. */
export async function tokenFor(userId: string, options: TokenOptions = {}): Promise<string> {
  const alg = options.alg ?? "HS256";
  const kid = options.kid === undefined ? "a" : options.kid;
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ sub: userId, ...options.claims })
    .setProtectedHeader(kid === null ? { alg } : { alg, kid })
    .setAudience(options.audience ?? AUDIENCE)
    .setIssuedAt(now);
  if (options.expiresIn !== null) jwt.setExpirationTime(now + (options.expiresIn ?? 600));
  return jwt.sign(options.key ?? new TextEncoder().encode(SECRET_A));
}

/** An unsigned token (`alg: none`), built by hand as jose refuses to. */
export function unsignedToken(userId: string): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const exp = Math.floor(Date.now() / 1000) + 600;
  return `${part({ alg: "none", typ: "JWT" })}.${part({ sub: userId, aud: AUDIENCE, exp })}.`;
}

export async function createUser(db: Queryable): Promise<string> {
  const id = randomUUID();
  await db.query("INSERT INTO users (id, email) VALUES ($1, $2)", [id, `${id}@example.test`]);
  return id;
}

export type Seed = {
  kind?: string;
  priority?: string;
  status?: "unread" | "read" | "resolved";
  title?: string;
  /** Written this many seconds ago (created_at, updated_at). */
  ageSeconds?: number;
};

/** Stores a notification of the user directly (the notifier's rules are tested elsewhere); its id. */
export async function storeNotification(db: Queryable, userId: string, seed: Seed = {}): Promise<string> {
  const id = uuidv7();
  const status = seed.status ?? "unread";
  const subjectId = randomUUID();
  await db.query(
    `INSERT INTO notifications (id, user_id, kind, priority, subject_type, subject_id, subject_key, episode,
                                dedup_key, title, body, status, read_at, resolved_at, resolution, created_at,
                                updated_at)
     VALUES ($1, $2, $3, $4, 'connection', $5::uuid, 'connection:' || $5::text, 1, $3::text || ':' || $5::text || ':1',
             $6, 'body', $7::text, CASE WHEN $7::text = 'read' THEN now() END,
             CASE WHEN $7::text = 'resolved' THEN now() END, CASE WHEN $7::text = 'resolved' THEN 'recovered' END,
             now() - make_interval(secs => $8), now() - make_interval(secs => $8))`,
    [
      id,
      userId,
      seed.kind ?? "connection_warning",
      seed.priority ?? "normal",
      subjectId,
      seed.title ?? "A title",
      status,
      seed.ageSeconds ?? 0,
    ],
  );
  return id;
}

export type SseEvent = { id: string | undefined; event: string; data: string };

/** A live stream opened over HTTP: its answer, the events received so far, and the ids set without data. */
export type SseClient = {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The whole body, once the answer has ended. */
  body(): Promise<string>;
  /** What has arrived so far, comment lines included. */
  received(): string;
  events: SseEvent[];
  /** The last id the stream set (what an EventSource sends as Last-Event-ID). */
  lastEventId(): string | undefined;
  close(): void;
};

/** Parses a Server-Sent Events body as it arrives (WHATWG rules for the fields used here). */
function sseParser(onEvent: (e: SseEvent) => void, onId: (id: string) => void) {
  let buffer = "";
  let current: { id?: string; event?: string; data: string[] } = { data: [] };
  return (chunk: string) => {
    buffer += chunk;
    for (let nl = buffer.indexOf("\n"); nl >= 0; nl = buffer.indexOf("\n")) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line === "") {
        if (current.id !== undefined) onId(current.id);
        if (current.data.length > 0) {
          onEvent({ id: current.id, event: current.event ?? "message", data: current.data.join("\n") });
        }
        current = { data: [] };
      } else if (!line.startsWith(":")) {
        const colon = line.indexOf(":");
        const field = line.slice(0, colon);
        const value = line.slice(colon + 1).replace(/^ /, "");
        if (field === "id") current.id = value;
        else if (field === "event") current.event = value;
        else if (field === "data") current.data.push(value);
      }
    }
  };
}

/** Opens a live stream; `onEvent` hears each event as it is parsed (a bench times its arrival). */
export function openStream(
  baseUrl: string,
  headers: Record<string, string>,
  onEvent?: (e: SseEvent) => void,
): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${baseUrl}/v1/notifications/stream`, { headers }, (res) => {
      res.setEncoding("utf8");
      const events: SseEvent[] = [];
      let lastId: string | undefined;
      let text = "";
      const parse = sseParser(
        (e) => {
          events.push(e);
          onEvent?.(e);
        },
        (id) => {
          lastId = id;
        },
      );
      const ended = new Promise<string>((done) => {
        res.on("data", (chunk: string) => {
          text += chunk;
          parse(chunk);
        });
        res.on("end", () => done(text));
        res.on("close", () => done(text));
      });
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        body: () => ended,
        received: () => text,
        events,
        lastEventId: () => lastId,
        close: () => req.destroy(),
      });
    });
    req.on("error", reject);
  });
}
