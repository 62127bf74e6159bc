-- The two references of communication events are checked once per statement instead of once per
-- row:
--   communication_events.raw_record_id   -> raw_records.id   (ON DELETE CASCADE)
--   communication_events.contact_id      -> contacts.id      (ON DELETE CASCADE)
--
-- A foreign key constraint runs one query per inserted row (look the parent up, lock it FOR KEY
-- SHARE). The poller writes a batch of pages in one statement, with about two communication
-- events per Gmail record, each referencing a different raw record: those per-row checks were
-- about a quarter of the page statement's Postgres CPU (`npm run bench:write-pages`: 158 µs per
-- record with the constraints, 111-128 µs with these triggers). (raw_records -> connections stays
-- a constraint: its rows are wide, so a statement-level trigger's transition table costs as much
-- as the per-row checks, which find the connection already locked by the same transaction.)
-- The triggers below keep what the constraints guaranteed:
-- - an insert locks each distinct parent FOR KEY SHARE, as the constraint's check does, and fails
--   with foreign_key_violation (23503) naming the constraint when one is missing; so a parent
--   cannot be deleted between the check and the commit (its delete waits for the lock);
-- - deleting parents deletes their children (statement-level, from the transition table); when a
--   concurrent insert held the lock, the delete runs after it commits and sees its rows;
-- - the key columns never change: updating a parent's id or a child's reference is refused (the
--   constraints cascaded such updates, which nothing does: ids are generated once).
-- schema.prisma keeps the relations (Prisma Client resolves them by join, without constraints);
-- `prisma migrate diff` will report the two foreign keys as missing: they are replaced here on
-- purpose and must not be added back by a generated migration.

ALTER TABLE "communication_events" DROP CONSTRAINT "communication_events_raw_record_id_fkey";
ALTER TABLE "communication_events" DROP CONSTRAINT "communication_events_contact_id_fkey";

-- AFTER INSERT ... REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT.
-- Arguments: the child's column, the parent table (its key is "id"), the constraint's name.
CREATE FUNCTION "check_references"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  missing uuid;
BEGIN
  -- Parents are locked in key order, so concurrent statements cannot deadlock on them.
  EXECUTE format(
    'WITH wanted AS (SELECT DISTINCT %1$I AS id FROM new_rows),
          present AS (SELECT p.id FROM %2$I p WHERE p.id IN (SELECT id FROM wanted) ORDER BY p.id FOR KEY SHARE OF p)
     SELECT w.id FROM wanted w WHERE NOT EXISTS (SELECT 1 FROM present x WHERE x.id = w.id) LIMIT 1',
    TG_ARGV[0], TG_ARGV[1]) INTO missing;
  IF missing IS NOT NULL THEN
    RAISE EXCEPTION 'insert on table "%" violates foreign key "%"', TG_TABLE_NAME, TG_ARGV[2]
      USING ERRCODE = 'foreign_key_violation',
            DETAIL = format('Key (%s)=(%s) is not present in table "%s".', TG_ARGV[0], missing, TG_ARGV[1]),
            TABLE = TG_TABLE_NAME, COLUMN = TG_ARGV[0], CONSTRAINT = TG_ARGV[2];
  END IF;
  RETURN NULL;
END
$$;

-- AFTER DELETE ... REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT, on the parent.
-- Arguments: the child table, its referencing column.
CREATE FUNCTION "delete_referencing_rows"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('DELETE FROM %I WHERE %I IN (SELECT id FROM old_rows)', TG_ARGV[0], TG_ARGV[1]);
  RETURN NULL;
END
$$;

-- BEFORE UPDATE ... FOR EACH ROW WHEN (the key changes). Arguments: the column, the relation.
CREATE FUNCTION "refuse_reference_change"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'update on table "%" changes %, which never changes (foreign key "%")', TG_TABLE_NAME, TG_ARGV[0], TG_ARGV[1]
    USING ERRCODE = 'foreign_key_violation', TABLE = TG_TABLE_NAME, COLUMN = TG_ARGV[0], CONSTRAINT = TG_ARGV[1];
END
$$;

-- communication_events.raw_record_id -> raw_records.id
CREATE TRIGGER "communication_events_raw_record_id_fkey_check" AFTER INSERT ON "communication_events"
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION "check_references"('raw_record_id', 'raw_records', 'communication_events_raw_record_id_fkey');
CREATE TRIGGER "communication_events_raw_record_id_fkey_cascade" AFTER DELETE ON "raw_records"
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
  EXECUTE FUNCTION "delete_referencing_rows"('communication_events', 'raw_record_id');
CREATE TRIGGER "communication_events_raw_record_id_fkey_fixed" BEFORE UPDATE OF "raw_record_id" ON "communication_events"
  FOR EACH ROW WHEN (OLD."raw_record_id" IS DISTINCT FROM NEW."raw_record_id")
  EXECUTE FUNCTION "refuse_reference_change"('raw_record_id', 'communication_events_raw_record_id_fkey');
CREATE TRIGGER "communication_events_raw_record_id_fkey_key_fixed" BEFORE UPDATE OF "id" ON "raw_records"
  FOR EACH ROW WHEN (OLD."id" IS DISTINCT FROM NEW."id")
  EXECUTE FUNCTION "refuse_reference_change"('id', 'communication_events_raw_record_id_fkey');

-- communication_events.contact_id -> contacts.id
CREATE TRIGGER "communication_events_contact_id_fkey_check" AFTER INSERT ON "communication_events"
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION "check_references"('contact_id', 'contacts', 'communication_events_contact_id_fkey');
CREATE TRIGGER "communication_events_contact_id_fkey_cascade" AFTER DELETE ON "contacts"
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
  EXECUTE FUNCTION "delete_referencing_rows"('communication_events', 'contact_id');
CREATE TRIGGER "communication_events_contact_id_fkey_fixed" BEFORE UPDATE OF "contact_id" ON "communication_events"
  FOR EACH ROW WHEN (OLD."contact_id" IS DISTINCT FROM NEW."contact_id")
  EXECUTE FUNCTION "refuse_reference_change"('contact_id', 'communication_events_contact_id_fkey');
CREATE TRIGGER "communication_events_contact_id_fkey_key_fixed" BEFORE UPDATE OF "id" ON "contacts"
  FOR EACH ROW WHEN (OLD."id" IS DISTINCT FROM NEW."id")
  EXECUTE FUNCTION "refuse_reference_change"('id', 'communication_events_contact_id_fkey');
