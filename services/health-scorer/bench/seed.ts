import { createHash } from "node:crypto";
import type pg from "pg";

/**
 * The bench's data, written by Postgres itself (generate_series): `users` active users with one
 * Google connection each, `contactsPerUser` contacts each with `eventsPerContact` emails and
 * meetings spread over the year up to `quietDays` ago (each recorded when it happened, as a poller
 * running all year would have), and one open deal per user with two of its contacts. Ids are
 * md5-derived, so the bench knows every row's id without reading it back.
 */
export type SeedShape = {
  users: number;
  contactsPerUser: number;
  eventsPerContact: number;
  deals: number;
  /** Days since the last seeded interaction: new mail then moves a contact's score. */
  quietDays: number;
};

/**
 * A version-4-shaped uuid made of md5(text) (the contracts take RFC 9562 uuids only); the SQL
 * function `bench_uuid` (BENCH_UUID_SQL) makes the same one.
 */
export function md5Uuid(text: string): string {
  const hex = createHash("md5").update(text).digest("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20)}`;
}

const BENCH_UUID_SQL = `CREATE OR REPLACE FUNCTION bench_uuid(text) RETURNS uuid LANGUAGE sql IMMUTABLE AS
  $$ SELECT (substr(h, 1, 12) || '4' || substr(h, 14, 3) || '8' || substr(h, 18))::uuid FROM md5($1) h $$`;

export const userId = (i: number) => md5Uuid(`user-${i}`);
export const connectionId = (i: number) => md5Uuid(`connection-${i}`);
/** Contact `k` (0-based) of user `i`. */
export const contactId = (i: number, k: number) => md5Uuid(`contact-${i}-${k}`);

/** Writes the users in chunks, printing progress; resolves to the rows written per table. */
export async function seed(pool: pg.Pool, shape: SeedShape, log: (line: string) => void): Promise<void> {
  await pool.query(BENCH_UUID_SQL);
  const chunk = Math.max(
    1,
    Math.floor(200_000 / Math.max(1, shape.contactsPerUser * shape.eventsPerContact)),
  );
  for (let from = 1; from <= shape.users; from += chunk) {
    const to = Math.min(shape.users, from + chunk - 1);
    await seedUsers(pool, shape, from, to);
    log(`  seeded users ${from}–${to} of ${shape.users}`);
  }
  await seedDeals(pool, shape);
  // A table written over a year has been vacuumed by autovacuum along the way: its visibility map
  // is current, which the scorer's index-only reads of communication events rely on.
  await pool.query("VACUUM ANALYZE");
}

async function seedUsers(pool: pg.Pool, shape: SeedShape, from: number, to: number): Promise<void> {
  const { contactsPerUser: perUser, eventsPerContact: perContact, quietDays } = shape;
  await pool.query(
    `INSERT INTO users (id, email, last_active_at)
     SELECT bench_uuid('user-' || i), 'bench-' || i || '@example.test', now()
     FROM generate_series($1::int, $2::int) i`,
    [from, to],
  );
  await pool.query(
    `INSERT INTO connections (id, user_id, provider, provider_account_id, status, access_token_expires_at,
       last_synced_at, last_refreshed_at, created_at, updated_at)
     SELECT bench_uuid('connection-' || i), bench_uuid('user-' || i), 'google', 'bench-' || i || '@example.test',
       'connected', now() + interval '1 hour', now(), now(), now() - interval '400 days', now() - interval '1 hour'
     FROM generate_series($1::int, $2::int) i`,
    [from, to],
  );
  await pool.query(
    `INSERT INTO contacts (id, user_id, email, created_at, updated_at)
     SELECT bench_uuid('contact-' || i || '-' || k), bench_uuid('user-' || i),
       'contact-' || k || '.of-' || i || '@example.test', now() - interval '400 days', now() - interval '400 days'
     FROM generate_series($1::int, $2::int) i, generate_series(0, $3::int - 1) k`,
    [from, to, perUser],
  );
  // Each interaction spread evenly over the year up to quietDays ago, a little jitter per contact.
  const events = `SELECT i, k, e,
       now() - make_interval(days => $5::int) - make_interval(secs => (e * (365 - $5::int) * 86400.0 / $4::int)
         + ((i * 31 + k * 7) % 86400)) AS at
     FROM generate_series($1::int, $2::int) i, generate_series(0, $3::int - 1) k, generate_series(0, $4::int - 1) e`;
  const params = [from, to, perUser, perContact, quietDays];
  await pool.query(
    `INSERT INTO raw_records (id, connection_id, platform, resource, external_id, payload, content_hash,
       occurred_at, first_seen_at, updated_at, last_seen_at)
     SELECT bench_uuid('raw-' || i || '-' || k || '-' || e), bench_uuid('connection-' || i), 'gmail', 'messages',
       'm-' || k || '-' || e, '{}', 'h', at, at, at, at
     FROM (${events}) ev`,
    params,
  );
  await pool.query(
    `INSERT INTO communication_events (id, user_id, contact_id, connection_id, raw_record_id, channel,
       direction, occurred_at, created_at)
     SELECT bench_uuid('event-' || i || '-' || k || '-' || e), bench_uuid('user-' || i),
       bench_uuid('contact-' || i || '-' || k), bench_uuid('connection-' || i),
       bench_uuid('raw-' || i || '-' || k || '-' || e),
       CASE WHEN e % 4 = 3 THEN 'meeting' ELSE 'email' END,
       CASE WHEN e % 2 = 0 THEN 'inbound' ELSE 'outbound' END, at, at
     FROM (${events}) ev`,
    params,
  );
}

/** Deal `d` belongs to user ((d - 1) mod users) + 1, with that user's first two contacts, in a stage for d mod 40 days. */
async function seedDeals(pool: pg.Pool, shape: SeedShape): Promise<void> {
  await pool.query(
    `INSERT INTO deals (id, user_id, name, stage, stage_entered_at, expected_close_at,
       original_expected_close_at, created_at, updated_at)
     SELECT bench_uuid('deal-' || d), bench_uuid('user-' || ((d - 1) % $2::int + 1)), 'Deal ' || d,
       (ARRAY['lead', 'qualified', 'proposal', 'negotiation'])[d % 4 + 1],
       now() - make_interval(days => d % 40), now() + make_interval(days => d % 60 - 20),
       now() + make_interval(days => d % 60 - 20),
       now() - interval '100 days', now() - interval '100 days'
     FROM generate_series(1, $1::int) d`,
    [shape.deals, shape.users],
  );
  await pool.query(
    `INSERT INTO deal_contacts (deal_id, contact_id)
     SELECT bench_uuid('deal-' || d), bench_uuid('contact-' || ((d - 1) % $2::int + 1) || '-' || k)
     FROM generate_series(1, $1::int) d, generate_series(0, least(1, $3::int - 1)) k`,
    [shape.deals, shape.users, shape.contactsPerUser],
  );
}

/**
 * One new inbound email today with contact `k` of each of users 1..count, as the poller records
 * it (created now): what the data.ingested events of the bench then announce.
 */
export async function newMail(pool: pg.Pool, count: number, k: number): Promise<void> {
  await pool.query(BENCH_UUID_SQL);
  await pool.query(
    `WITH n AS (SELECT i, bench_uuid('raw-new-' || i || '-' || $2::int) AS raw FROM generate_series(1, $1::int) i),
     r AS (
       INSERT INTO raw_records (id, connection_id, platform, resource, external_id, payload, content_hash, occurred_at)
       SELECT raw, bench_uuid('connection-' || i), 'gmail', 'messages', 'new-' || $2::int, '{}', 'h', now() FROM n
     )
     INSERT INTO communication_events (id, user_id, contact_id, connection_id, raw_record_id, channel, direction, occurred_at)
     SELECT bench_uuid('event-new-' || i || '-' || $2::int), bench_uuid('user-' || i),
       bench_uuid('contact-' || i || '-' || $2::int), bench_uuid('connection-' || i), raw, 'email', 'inbound', now()
     FROM n`,
    [count, k],
  );
}
