import { createHash, randomUUID } from "node:crypto";
import { createEvent, type EventOf } from "@syncwell/contracts";
import type pg from "pg";

/**
 * The bench's users and events. Ids are md5-derived, so the bench knows every user's and
 * connection's id without reading it back; health subjects get fresh ids, each its own episode.
 */

/** A version-4-shaped uuid made of md5(text); the SQL function `bench_uuid` makes the same one. */
export function md5Uuid(text: string): string {
  const hex = createHash("md5").update(text).digest("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20)}`;
}

export const userId = (i: number) => md5Uuid(`user-${i}`);
export const connectionId = (i: number) => md5Uuid(`connection-${i}`);

/** `users` active users (1-based), each with an email address and one Google connection. */
export async function seedUsers(pool: pg.Pool, users: number): Promise<void> {
  await pool.query(`CREATE OR REPLACE FUNCTION bench_uuid(text) RETURNS uuid LANGUAGE sql IMMUTABLE AS
    $$ SELECT (substr(h, 1, 12) || '4' || substr(h, 14, 3) || '8' || substr(h, 18))::uuid FROM md5($1) h $$`);
  await pool.query(
    `INSERT INTO users (id, email, last_active_at)
     SELECT bench_uuid('user-' || i), 'bench-' || i || '@example.test', now() FROM generate_series(1, $1::int) i`,
    [users],
  );
  await pool.query(
    `INSERT INTO connections (id, user_id, provider, provider_account_id, status, access_token_expires_at,
       last_synced_at, last_refreshed_at, created_at, updated_at)
     SELECT bench_uuid('connection-' || i), bench_uuid('user-' || i), 'google', 'bench-' || i || '@example.test',
       'connected', now() + interval '1 hour', now(), now(), now() - interval '400 days', now() - interval '1 hour'
     FROM generate_series(1, $1::int) i`,
    [users],
  );
  await pool.query("ANALYZE");
}

export type BenchEvent = EventOf<"token.failed"> | EventOf<"health.changed">;

/**
 * One event to publish, and the notification it is meant to create, as `<subject id>|<kind>`
 * (null: none), by which a stored or streamed notification finds its event's publish time.
 */
export type Planned = { event: BenchEvent; creates: string | null };

/** Events per user. */
export const EVENTS_PER_USER = 5;

type Failure = { transient: boolean; failures: number; transients: number; status: string };

/**
 * User `i`'s five events, in the order they happen. One user in ten: two transient failures
 * (warning), a lost grant (disconnected, with an email), a connection gone critical and a
 * contact gone quiet. Five in ten: two transient failures (warning), a contact critical, another
 * ghost, a deal stalled. Four in ten: five transient failures (warning, then the rate-limit
 * notice). 32,000 in-app notifications and 1,000 emails from 50,000 events for 10,000 users.
 */
export function userEvents(i: number): Planned[] {
  const group = i % 10;
  const transient = (n: number): Failure => ({
    transient: true,
    failures: n,
    transients: n,
    status: n >= 5 ? "rate_limited" : n >= 2 ? "warning" : "connected",
  });
  if (group === 0) {
    return [
      failed(i, transient(1), null),
      failed(i, transient(2), "connection_warning"),
      failed(
        i,
        { transient: false, failures: 3, transients: 0, status: "needs_reauth" },
        "connection_disconnected",
      ),
      health(i, "connection", connectionId(i), "critical"),
      health(i, "contact", randomUUID(), "ghost"),
    ];
  }
  if (group <= 5) {
    return [
      failed(i, transient(1), null),
      failed(i, transient(2), "connection_warning"),
      health(i, "contact", randomUUID(), "critical"),
      health(i, "contact", randomUUID(), "ghost"),
      health(i, "deal", randomUUID(), "stalled"),
    ];
  }
  return [1, 2, 3, 4, 5].map((n) =>
    failed(i, transient(n), n === 2 ? "connection_warning" : n === 5 ? "connection_rate_limited" : null),
  );
}

function failed(i: number, f: Failure, creates: string | null): Planned {
  const event = createEvent(
    "token.failed",
    {
      connectionId: connectionId(i),
      userId: userId(i),
      provider: "google",
      classification: f.transient ? "transient" : "permanent",
      errorCode: f.transient ? "http_503" : "invalid_grant",
      consecutiveFailures: f.failures,
      consecutiveTransientFailures: f.transients,
      previousStatus: "connected",
      status: f.status as EventOf<"token.failed">["data"]["status"],
      retryAt: f.transient ? new Date(Date.now() + 60_000).toISOString() : null,
      jobRunId: md5Uuid("bench-run"),
    },
    { source: "bench" },
  );
  return { event, creates: creates && `${connectionId(i)}|${creates}` };
}

const HEALTH_KINDS = {
  critical: "health_critical",
  ghost: "health_ghost",
  stalled: "health_stalled",
} as const;

/** A health subject of user `i` moving from healthy to `status`. */
export function health(
  i: number,
  kind: "connection" | "contact" | "deal",
  subjectId: string,
  status: keyof typeof HEALTH_KINDS,
): Planned {
  const data = {
    subjectKind: kind,
    subjectId,
    userId: userId(i),
    previousStatus: "healthy",
    status,
    score: 12,
    previousScore: 80,
    components: { recency: 0.1, frequency: 0.2 },
    reason: "No reply to the last 4 messages in 38 days",
  } as EventOf<"health.changed">["data"];
  const event = createEvent("health.changed", data, { source: "bench" });
  return { event, creates: `${subjectId}|${HEALTH_KINDS[status]}` };
}
