-- The statement-level reference checks of communication events (migrations 20261126000000 and
-- 20261206000000) locked their parents with `p.id IN (SELECT id FROM wanted)`. Postgres estimates
-- a transition table's distinct keys at 200 whatever the batch, so while the parent table is a few
-- tens of thousands of rows it plans a hash join over a sequential scan of the whole table: 27,000
-- contacts read to lock 220 of them, 4 ms of a 730-row insert's 10 (bench:poll logged this plan for
-- every check of contacts). Each key is now looked up on its own through the parent's primary key:
-- a subquery that locks rows (FOR KEY SHARE) is never merged into the join above it, so Postgres
-- probes the primary key once per key, at any table size (the same insert: 6.1-6.8 against
-- 10.2-11.5 ms).
-- The guarantees are unchanged: every distinct parent is locked FOR KEY SHARE, in key order (the
-- keys are sorted before the lookups, so concurrent statements cannot deadlock on them), and a
-- missing or concurrently deleted parent fails the insert with foreign_key_violation.
-- The function plans with sequential scans off: a session keeps the plans of these queries until a
-- table's statistics change, and one made while a parent table held a few rows (just after the
-- analysis of a new, empty deployment, on a server without autovacuum) reads the whole table for
-- each key once it has grown (50 ms for 50 keys among 20,000 contacts; tested).
--
-- And raw_records.connection_id -> connections.id (ON DELETE CASCADE) is checked the same way, once
-- per statement instead of once per row, as communication events' two references already are
-- (migration 20261126000000_references_checked_per_statement, which explains the triggers and what
-- they guarantee: a missing or concurrently deleted connection fails the insert with
-- foreign_key_violation naming this constraint; each distinct connection is locked FOR KEY SHARE
-- in key order; deleting connections deletes their records, and through them their events; the
-- key columns never change). The constraint ran one lookup-and-lock query per inserted row: a
-- page statement of 640 records from 32 connections ran it 640 times, 2.5 ms of its 7.4 ms of
-- Postgres CPU. The statement-level check looks the 32 connections up once each: 5.3 ms in all,
-- against 4.9 ms with no check at all (interleaved runs, backend CPU). Migration 20261126000000
-- kept this constraint because its statement-level check then read the whole connections table,
-- as described above: the transition table of these wide rows was never the cost.
-- schema.prisma keeps the relation; `prisma migrate diff` will report the foreign key as missing:
-- it is replaced here on purpose and must not be added back by a generated migration.

ALTER TABLE "raw_records" DROP CONSTRAINT "raw_records_connection_id_fkey";

CREATE OR REPLACE FUNCTION "check_references"() RETURNS trigger LANGUAGE plpgsql
  SET enable_seqscan = off AS $$
DECLARE
  missing uuid;
BEGIN
  -- Each distinct key is looked up on its own through the parent's primary key, in key order, and
  -- locked FOR KEY SHARE.
  IF TG_TABLE_NAME = 'communication_events' AND TG_ARGV[0] = 'raw_record_id' AND TG_ARGV[1] = 'raw_records' THEN
    SELECT w.id INTO missing
    FROM (SELECT DISTINCT n.raw_record_id AS id FROM new_rows n ORDER BY 1) w
    LEFT JOIN LATERAL (SELECT p.id FROM raw_records p WHERE p.id = w.id FOR KEY SHARE OF p) x ON true
    WHERE x.id IS NULL LIMIT 1;
  ELSIF TG_TABLE_NAME = 'communication_events' AND TG_ARGV[0] = 'contact_id' AND TG_ARGV[1] = 'contacts' THEN
    SELECT w.id INTO missing
    FROM (SELECT DISTINCT n.contact_id AS id FROM new_rows n ORDER BY 1) w
    LEFT JOIN LATERAL (SELECT p.id FROM contacts p WHERE p.id = w.id FOR KEY SHARE OF p) x ON true
    WHERE x.id IS NULL LIMIT 1;
  ELSIF TG_TABLE_NAME = 'raw_records' AND TG_ARGV[0] = 'connection_id' AND TG_ARGV[1] = 'connections' THEN
    SELECT w.id INTO missing
    FROM (SELECT DISTINCT n.connection_id AS id FROM new_rows n ORDER BY 1) w
    LEFT JOIN LATERAL (SELECT p.id FROM connections p WHERE p.id = w.id FOR KEY SHARE OF p) x ON true
    WHERE x.id IS NULL LIMIT 1;
  ELSE
    RAISE EXCEPTION 'check_references has no check for %.% -> %', TG_TABLE_NAME, TG_ARGV[0], TG_ARGV[1];
  END IF;
  IF missing IS NOT NULL THEN
    RAISE EXCEPTION 'insert on table "%" violates foreign key "%"', TG_TABLE_NAME, TG_ARGV[2]
      USING ERRCODE = 'foreign_key_violation',
            DETAIL = format('Key (%s)=(%s) is not present in table "%s".', TG_ARGV[0], missing, TG_ARGV[1]),
            TABLE = TG_TABLE_NAME, COLUMN = TG_ARGV[0], CONSTRAINT = TG_ARGV[2];
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER "raw_records_connection_id_fkey_check" AFTER INSERT ON "raw_records"
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION "check_references"('connection_id', 'connections', 'raw_records_connection_id_fkey');
CREATE TRIGGER "raw_records_connection_id_fkey_cascade" AFTER DELETE ON "connections"
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
  EXECUTE FUNCTION "delete_referencing_rows"('raw_records', 'connection_id');
CREATE TRIGGER "raw_records_connection_id_fkey_fixed" BEFORE UPDATE OF "connection_id" ON "raw_records"
  FOR EACH ROW WHEN (OLD."connection_id" IS DISTINCT FROM NEW."connection_id")
  EXECUTE FUNCTION "refuse_reference_change"('connection_id', 'raw_records_connection_id_fkey');
CREATE TRIGGER "raw_records_connection_id_fkey_key_fixed" BEFORE UPDATE OF "id" ON "connections"
  FOR EACH ROW WHEN (OLD."id" IS DISTINCT FROM NEW."id")
  EXECUTE FUNCTION "refuse_reference_change"('id', 'raw_records_connection_id_fkey');
