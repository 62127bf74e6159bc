-- The health scorer's data: the user's deals and which contacts take part in them, contacts'
-- external ids (bulk upserts from a CRM), the current health score of each subject with its
-- components, input window and sweep lease, one history row per change, and an index on users'
-- last activity (the sweep covers active users only).

-- AlterTable
ALTER TABLE "contacts" ADD COLUMN     "external_id" TEXT;

-- CreateTable
CREATE TABLE "deals" (
    "id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "external_id" TEXT,
    "name" TEXT NOT NULL,
    "stage" TEXT NOT NULL,
    "stage_entered_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expected_close_at" TIMESTAMPTZ(3),
    "status" TEXT NOT NULL DEFAULT 'open',
    "closed_at" TIMESTAMPTZ(3),
    "amount" DECIMAL(19,4),
    "currency" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "deals_pkey" PRIMARY KEY ("id")
);

-- CreateTable: the contacts taking part in a deal (their activity is the deal's); both belong to
-- one user (a trigger below).
CREATE TABLE "deal_contacts" (
    "deal_id" UUID NOT NULL,
    "contact_id" UUID NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "deal_contacts_pkey" PRIMARY KEY ("deal_id","contact_id")
);

-- CreateTable: the current score of each subject (a connection, a contact or a deal). A write
-- applies only when its inputs are newer than the stored ones ("inputs_as_of", the time the newest
-- input it reflects was recorded), so of two replicas scoring one subject the newer input wins,
-- not the later arrival. "inputs_from" / "inputs_to" are the time window its inputs were read
-- from, and "components" the parts the score was made of, so a person can see why it is what it
-- is. The sweep claims stale scores with a lease ("claimed_until", "claimed_by": the claim protocol
-- of the poller's sync_states), once per run ("last_attempt_at"); "last_error" says why the last
-- attempt left the score as it was.
CREATE TABLE "health_scores" (
    "subject_type" TEXT NOT NULL,
    "subject_id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "score" SMALLINT NOT NULL,
    "status" TEXT NOT NULL,
    "components" JSONB NOT NULL,
    "inputs_from" TIMESTAMPTZ(3) NOT NULL,
    "inputs_to" TIMESTAMPTZ(3) NOT NULL,
    "inputs_as_of" TIMESTAMPTZ(3) NOT NULL,
    "computed_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "claimed_until" TIMESTAMPTZ(3),
    "claimed_by" TEXT,
    "last_attempt_at" TIMESTAMPTZ(3),
    "last_error" TEXT,

    CONSTRAINT "health_scores_pkey" PRIMARY KEY ("subject_type","subject_id")
);

-- CreateTable: one row per change of a score (status or score), so trends can be drawn.
CREATE TABLE "health_score_history" (
    "id" UUID NOT NULL,
    "subject_type" TEXT NOT NULL,
    "subject_id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "score" SMALLINT NOT NULL,
    "status" TEXT NOT NULL,
    "previous_score" SMALLINT,
    "previous_status" TEXT,
    "components" JSONB NOT NULL,
    "computed_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "health_score_history_pkey" PRIMARY KEY ("id")
);

-- CreateIndex: the sweep reads active users through it ("seen in the last 7 days"). Activity is one
-- value per user, so it is this column of users rather than a table of its own.
CREATE INDEX "users_last_active_at_idx" ON "users"("last_active_at");

-- CreateIndex: bulk upserts are keyed by the CRM's id; NULLs are distinct, so contacts without one
-- are unconstrained.
CREATE UNIQUE INDEX "contacts_user_id_external_id_key" ON "contacts"("user_id", "external_id");

-- CreateIndex
CREATE UNIQUE INDEX "deals_user_id_external_id_key" ON "deals"("user_id", "external_id");

-- CreateIndex: a user's deals in id order (cursor pagination). contacts have no such index: one
-- that holds "id" behind another column can be chosen for the reference checks' lookups by id
-- (migration 20261206120000) while the table is nearly empty, and a session keeps that plan, which
-- then reads the whole index for every key; contacts are listed in email order
-- (contacts_user_id_email_key) instead.
CREATE INDEX "deals_user_id_id_idx" ON "deals"("user_id", "id");

-- CreateIndex: the deals a contact takes part in (new communication events of a contact change
-- the health of its deals), and the cascade when a contact is deleted.
CREATE INDEX "deal_contacts_contact_id_idx" ON "deal_contacts"("contact_id");

-- CreateIndex: unique because the primary key is; it exists as the target of
-- health_score_history's foreign key, so a history row belongs to its score's user.
CREATE UNIQUE INDEX "health_scores_subject_type_subject_id_user_id_key" ON "health_scores"("subject_type", "subject_id", "user_id");

-- CreateIndex: the sweep goes from active users to their scores older than the maximum age. By
-- user first, not by age: scores of inactive users are never refreshed and stay the oldest, so an
-- index led by computed_at would make every sweep step over all of them.
CREATE INDEX "health_scores_user_id_computed_at_idx" ON "health_scores"("user_id", "computed_at");

-- CreateIndex: a subject's trend, newest first.
CREATE INDEX "health_score_history_subject_type_subject_id_computed_at_idx" ON "health_score_history"("subject_type", "subject_id", "computed_at" DESC);

-- AddForeignKey
ALTER TABLE "deals" ADD CONSTRAINT "deals_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "deal_contacts" ADD CONSTRAINT "deal_contacts_deal_id_fkey" FOREIGN KEY ("deal_id") REFERENCES "deals"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "deal_contacts" ADD CONSTRAINT "deal_contacts_contact_id_fkey" FOREIGN KEY ("contact_id") REFERENCES "contacts"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "health_scores" ADD CONSTRAINT "health_scores_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "health_score_history" ADD CONSTRAINT "health_score_history_subject_type_subject_id_user_id_fkey" FOREIGN KEY ("subject_type", "subject_id", "user_id") REFERENCES "health_scores"("subject_type", "subject_id", "user_id") ON DELETE CASCADE ON UPDATE CASCADE;

-- ---------------------------------------------------------------------------------------------
-- Hand-written below this line: what the Prisma schema cannot express.
-- ---------------------------------------------------------------------------------------------

-- AddCheckConstraint: an empty id would make every "empty" record of a user collide.
ALTER TABLE "contacts" ADD CONSTRAINT "contacts_external_id_check" CHECK ("external_id" IS NULL OR char_length("external_id") BETWEEN 1 AND 255);

-- AddCheckConstraint
ALTER TABLE "deals" ADD CONSTRAINT "deals_status_check" CHECK ("status" IN ('open', 'won', 'lost'));

-- AddCheckConstraint: a closed deal (won or lost) has its close time, an open one has none.
ALTER TABLE "deals" ADD CONSTRAINT "deals_closed_at_check" CHECK (("status" = 'open') = ("closed_at" IS NULL));

-- AddCheckConstraint: an amount means nothing without its currency (ISO 4217 code), and one
-- user's deals may be in several.
ALTER TABLE "deals" ADD CONSTRAINT "deals_amount_check" CHECK (("amount" IS NULL AND "currency" IS NULL) OR ("amount" >= 0 AND "currency" IS NOT NULL AND "currency" ~ '^[A-Z]{3}$'));

-- AddCheckConstraint: the stage is the key of its expected duration in the scorer's configuration.
ALTER TABLE "deals" ADD CONSTRAINT "deals_text_check" CHECK (
    btrim("name") <> '' AND char_length("name") <= 500
    AND btrim("stage") <> '' AND char_length("stage") <= 100
    AND ("external_id" IS NULL OR char_length("external_id") BETWEEN 1 AND 255));

-- CreateFunction: a deal links its own user's contacts only, so one user's ids never reach
-- another's data through a deal. An AFTER trigger: the foreign keys' own triggers run first
-- (their names sort first), so a missing deal or contact is reported as what it is.
CREATE FUNCTION "check_deal_contact_owner"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM deals d JOIN contacts c ON c.user_id = d.user_id
                 WHERE d.id = NEW.deal_id AND c.id = NEW.contact_id) THEN
    RAISE EXCEPTION 'deal % and contact % belong to different users', NEW.deal_id, NEW.contact_id
      USING ERRCODE = 'check_violation', TABLE = TG_TABLE_NAME, CONSTRAINT = 'deal_contacts_owner_check';
  END IF;
  RETURN NULL;
END
$$;

-- CreateTrigger
CREATE TRIGGER "deal_contacts_owner_check" AFTER INSERT OR UPDATE ON "deal_contacts"
  FOR EACH ROW EXECUTE FUNCTION "check_deal_contact_owner"();

-- CreateFunction: the status scale of each kind of subject, as `healthStatuses` in
-- libs/contracts/src/events/health-changed.ts defines them (libs/db/src/health-scores.test.ts
-- compares the two). One definition for the CHECKs of both tables. An unknown subject type has no
-- scale (null): refusing it is health_scores_subject_type_check's, and health_score_history's
-- foreign key's.
CREATE FUNCTION "health_status_in_scale"("subject_type" TEXT, "status" TEXT) RETURNS BOOLEAN
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN CASE "subject_type"
    WHEN 'connection' THEN "status" IN ('healthy', 'warning', 'critical')
    WHEN 'contact' THEN "status" IN ('healthy', 'at_risk', 'critical', 'ghost')
    WHEN 'deal' THEN "status" IN ('healthy', 'warning', 'critical', 'stalled')
  END;

-- AddCheckConstraint
ALTER TABLE "health_scores" ADD CONSTRAINT "health_scores_subject_type_check" CHECK ("subject_type" IN ('connection', 'contact', 'deal'));

-- AddCheckConstraint
ALTER TABLE "health_scores" ADD CONSTRAINT "health_scores_status_check" CHECK (health_status_in_scale("subject_type", "status"));

-- AddCheckConstraint
ALTER TABLE "health_scores" ADD CONSTRAINT "health_scores_score_check" CHECK ("score" BETWEEN 0 AND 100);

-- AddCheckConstraint: the components are kept in the scorer's own shape (what each measured,
-- its weight, its rating, a sentence for a person; health.changed carries them flattened to named
-- numbers), a structure and never a bare value.
ALTER TABLE "health_scores" ADD CONSTRAINT "health_scores_components_check" CHECK (jsonb_typeof("components") IN ('object', 'array'));

-- AddCheckConstraint
ALTER TABLE "health_scores" ADD CONSTRAINT "health_scores_inputs_check" CHECK ("inputs_from" <= "inputs_to");

-- AddCheckConstraint: the subject type is checked by the foreign key to health_scores.
ALTER TABLE "health_score_history" ADD CONSTRAINT "health_score_history_status_check" CHECK (
    health_status_in_scale("subject_type", "status")
    AND ("previous_status" IS NULL OR health_status_in_scale("subject_type", "previous_status")));

-- AddCheckConstraint
ALTER TABLE "health_score_history" ADD CONSTRAINT "health_score_history_score_check" CHECK (
    "score" BETWEEN 0 AND 100 AND ("previous_score" IS NULL OR "previous_score" BETWEEN 0 AND 100));

-- AddCheckConstraint: both are null on a subject's first score only.
ALTER TABLE "health_score_history" ADD CONSTRAINT "health_score_history_previous_check" CHECK (("previous_score" IS NULL) = ("previous_status" IS NULL));

-- AddCheckConstraint: a row is a change; a recompute that moved nothing writes no history.
ALTER TABLE "health_score_history" ADD CONSTRAINT "health_score_history_change_check" CHECK (
    "previous_status" IS NULL OR "status" <> "previous_status" OR "score" <> "previous_score");

-- AddCheckConstraint: as health_scores_components_check.
ALTER TABLE "health_score_history" ADD CONSTRAINT "health_score_history_components_check" CHECK (jsonb_typeof("components") IN ('object', 'array'));

-- A score's subject is a connection, a contact or a deal, which one foreign key cannot reference.
-- Triggers keep what one foreign key per kind would guarantee, per statement, as the reference
-- checks of migration 20261126000000_references_checked_per_statement do (docs/decisions/0003):
-- - an insert of scores locks each distinct subject FOR KEY SHARE, in (type, id) order, and fails
--   with foreign_key_violation naming "health_scores_subject_fkey" when one is missing or belongs to
--   another user; a subject deleted meanwhile waits for the insert and then takes the score with it.
--   A writer that must not fail on a subject deleted under it locks the live subjects itself first
--   (`... FOR KEY SHARE` in a CTE skips deleted rows) and inserts only theirs;
-- - deleting connections, contacts or deals deletes their scores, and through
--   health_score_history's foreign key their history;
-- - a score's subject and user never change (an update that would is refused).
-- Updates of existing scores (ON CONFLICT DO UPDATE) are not checked again: the subject is the row's.

-- CreateFunction: AFTER INSERT ... REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT on
-- health_scores. Static queries (planned once per session), sequential scans off: see migration
-- 20261206120000_reference_checks_by_key for both.
CREATE FUNCTION "check_health_subjects"() RETURNS trigger LANGUAGE plpgsql
  SET enable_seqscan = off AS $$
DECLARE
  missing record;
BEGIN
  SELECT n.subject_type, n.subject_id, n.user_id INTO missing
  FROM (SELECT DISTINCT x.subject_type, x.subject_id, x.user_id FROM new_rows x ORDER BY 1, 2) n
  LEFT JOIN LATERAL (SELECT p.id FROM connections p
    WHERE n.subject_type = 'connection' AND p.id = n.subject_id AND p.user_id = n.user_id FOR KEY SHARE OF p) c ON true
  LEFT JOIN LATERAL (SELECT p.id FROM contacts p
    WHERE n.subject_type = 'contact' AND p.id = n.subject_id AND p.user_id = n.user_id FOR KEY SHARE OF p) k ON true
  LEFT JOIN LATERAL (SELECT p.id FROM deals p
    WHERE n.subject_type = 'deal' AND p.id = n.subject_id AND p.user_id = n.user_id FOR KEY SHARE OF p) d ON true
  WHERE c.id IS NULL AND k.id IS NULL AND d.id IS NULL
  LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'insert on table "health_scores" violates foreign key "health_scores_subject_fkey"'
      USING ERRCODE = 'foreign_key_violation',
            DETAIL = format('Key (subject_type, subject_id, user_id)=(%s, %s, %s) is not present in the table of its subject type.',
                            missing.subject_type, missing.subject_id, missing.user_id),
            TABLE = 'health_scores', CONSTRAINT = 'health_scores_subject_fkey';
  END IF;
  RETURN NULL;
END
$$;

-- CreateFunction: AFTER DELETE ... REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT on a
-- subject table. Argument: the subject type of its rows.
CREATE FUNCTION "delete_health_of_subjects"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM health_scores h USING old_rows o WHERE h.subject_type = TG_ARGV[0] AND h.subject_id = o.id;
  RETURN NULL;
END
$$;

-- CreateTrigger
CREATE TRIGGER "health_scores_subject_fkey_check" AFTER INSERT ON "health_scores"
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION "check_health_subjects"();

-- CreateTrigger: refuse_reference_change comes from migration 20261126000000.
CREATE TRIGGER "health_scores_subject_fkey_fixed" BEFORE UPDATE OF "subject_type", "subject_id", "user_id" ON "health_scores"
  FOR EACH ROW WHEN (OLD."subject_type" IS DISTINCT FROM NEW."subject_type"
                     OR OLD."subject_id" IS DISTINCT FROM NEW."subject_id"
                     OR OLD."user_id" IS DISTINCT FROM NEW."user_id")
  EXECUTE FUNCTION "refuse_reference_change"('subject_type, subject_id, user_id', 'health_scores_subject_fkey');

-- CreateTrigger
CREATE TRIGGER "health_scores_subject_fkey_cascade" AFTER DELETE ON "connections"
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
  EXECUTE FUNCTION "delete_health_of_subjects"('connection');

-- CreateTrigger
CREATE TRIGGER "health_scores_subject_fkey_cascade" AFTER DELETE ON "contacts"
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
  EXECUTE FUNCTION "delete_health_of_subjects"('contact');

-- CreateTrigger
CREATE TRIGGER "health_scores_subject_fkey_cascade" AFTER DELETE ON "deals"
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
  EXECUTE FUNCTION "delete_health_of_subjects"('deal');
