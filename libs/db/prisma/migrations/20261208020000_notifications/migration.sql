-- The notifier's data, in the shape notification systems use (Novu's): a notification per thing
-- told to a user, its messages (one per channel, each with a delivery status), an audit row per
-- delivery attempt, and the notifier's state per subject (its episodes) between events.

-- CreateTable: "seq" orders every change for the users' live streams (Server-Sent Events resumed
-- with Last-Event-ID): set from its sequence on insert, and anew on each update by a trigger below.
-- One notification per kind, subject and episode: unique on ("user_id", "dedup_key").
CREATE TABLE "notifications" (
    "id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "kind" TEXT NOT NULL,
    "priority" TEXT NOT NULL,
    "subject_type" TEXT NOT NULL,
    "subject_id" UUID NOT NULL,
    "subject_key" TEXT NOT NULL,
    "episode" INTEGER NOT NULL,
    "dedup_key" TEXT NOT NULL,
    "title" TEXT NOT NULL,
    "body" TEXT NOT NULL,
    "link" TEXT,
    "data" JSONB NOT NULL DEFAULT '{}',
    "status" TEXT NOT NULL DEFAULT 'unread',
    "read_at" TIMESTAMPTZ(3),
    "resolved_at" TIMESTAMPTZ(3),
    "resolution" TEXT,
    "seq" BIGSERIAL NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "notifications_pkey" PRIMARY KEY ("id")
);

-- CreateTable: one per notification and channel. In-app is delivered when stored; email waits as
-- pending for the delivery worker, which takes it as sending with "next_attempt_at" as its lease
-- (a sending row past it was left by a worker that stopped). The id is the email's
-- Idempotency-Key, so no retry or redelivery sends it twice.
CREATE TABLE "notification_messages" (
    "id" UUID NOT NULL,
    "notification_id" UUID NOT NULL,
    "channel" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "provider" TEXT,
    "provider_message_id" TEXT,
    "to_address" TEXT,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "next_attempt_at" TIMESTAMPTZ(3),
    "claimed_by" TEXT,
    "last_error" TEXT,
    "sent_at" TIMESTAMPTZ(3),
    "delivered_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "notification_messages_pkey" PRIMARY KEY ("id")
);

-- CreateTable: the delivery audit. A row is written when a try starts and completed when it ends,
-- so a try cut short by a crash shows as started and never finished.
CREATE TABLE "notification_delivery_attempts" (
    "id" UUID NOT NULL,
    "message_id" UUID NOT NULL,
    "attempt" INTEGER NOT NULL,
    "provider" TEXT NOT NULL,
    "started_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finished_at" TIMESTAMPTZ(3),
    "outcome" TEXT,
    "http_status" SMALLINT,
    "provider_message_id" TEXT,
    "error" TEXT,

    CONSTRAINT "notification_delivery_attempts_pkey" PRIMARY KEY ("id")
);

-- CreateTable: the notifier's state per subject (`Episode` in the notifier's domain), locked while
-- an event about the subject is decided. "last_notified_at" maps kinds to epoch milliseconds.
CREATE TABLE "notification_episodes" (
    "user_id" UUID NOT NULL,
    "subject_key" TEXT NOT NULL,
    "number" INTEGER NOT NULL DEFAULT 0,
    "opened_at" TIMESTAMPTZ(3),
    "closed_at" TIMESTAMPTZ(3),
    "level" SMALLINT NOT NULL DEFAULT 0,
    "open_kinds" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "last_notified_at" JSONB NOT NULL DEFAULT '{}',
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "notification_episodes_pkey" PRIMARY KEY ("user_id","subject_key")
);

-- CreateIndex
CREATE UNIQUE INDEX "notifications_user_id_dedup_key_key" ON "notifications"("user_id", "dedup_key");

-- CreateIndex: a user's list, newest first, the id as cursor (UUIDv7 ids sort by creation).
CREATE INDEX "notifications_user_id_id_idx" ON "notifications"("user_id", "id" DESC);

-- CreateIndex: a user's unread count reads only the unread.
CREATE INDEX "notifications_unread_idx" ON "notifications"("user_id") WHERE status = 'unread';

-- CreateIndex: a user's changes after a seq (a live stream resuming).
CREATE INDEX "notifications_user_id_seq_idx" ON "notifications"("user_id", "seq");

-- CreateIndex
CREATE UNIQUE INDEX "notification_messages_notification_id_channel_key" ON "notification_messages"("notification_id", "channel");

-- CreateIndex: the delivery worker's claim, in due order; final messages leave it.
CREATE INDEX "notification_messages_due_idx" ON "notification_messages"("next_attempt_at") WHERE status IN ('pending', 'sending');

-- CreateIndex
CREATE UNIQUE INDEX "notification_delivery_attempts_message_id_attempt_key" ON "notification_delivery_attempts"("message_id", "attempt");

-- AddForeignKey: a deleted user's notifications go with them. A plain foreign key: notifications
-- are inserted a few per event, not in the pages of thousands that made the poller's tables check
-- theirs per statement (docs/decisions/0003).
ALTER TABLE "notifications" ADD CONSTRAINT "notifications_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "notification_messages" ADD CONSTRAINT "notification_messages_notification_id_fkey" FOREIGN KEY ("notification_id") REFERENCES "notifications"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "notification_delivery_attempts" ADD CONSTRAINT "notification_delivery_attempts_message_id_fkey" FOREIGN KEY ("message_id") REFERENCES "notification_messages"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "notification_episodes" ADD CONSTRAINT "notification_episodes_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- ---------------------------------------------------------------------------------------------
-- Hand-written below this line: what the Prisma schema cannot express.
-- ---------------------------------------------------------------------------------------------

-- AddCheckConstraint: the kinds' form and length as notification.created's `kind`, and the dedup
-- key's length as its `dedupKey`, so every stored notification can be announced.
ALTER TABLE "notifications" ADD CONSTRAINT "notifications_keys_check" CHECK (
    "kind" ~ '^[a-z][a-z0-9_]*$' AND char_length("kind") <= 64
    AND char_length("dedup_key") BETWEEN 1 AND 200);

-- AddCheckConstraint
ALTER TABLE "notifications" ADD CONSTRAINT "notifications_priority_check" CHECK ("priority" IN ('low', 'normal', 'high', 'critical'));

-- AddCheckConstraint
ALTER TABLE "notifications" ADD CONSTRAINT "notifications_subject_type_check" CHECK ("subject_type" IN ('connection', 'contact', 'deal'));

-- AddCheckConstraint: unread has not been read; read has its time; resolved has its time and
-- reason (and a read time when it was read first); only resolved ones have either.
ALTER TABLE "notifications" ADD CONSTRAINT "notifications_status_check" CHECK (
    CASE "status"
      WHEN 'unread' THEN "read_at" IS NULL AND "resolved_at" IS NULL
      WHEN 'read' THEN "read_at" IS NOT NULL AND "resolved_at" IS NULL
      WHEN 'resolved' THEN "resolved_at" IS NOT NULL
      ELSE false
    END
    AND ("resolved_at" IS NULL) = ("resolution" IS NULL)
    AND ("resolution" IS NULL OR "resolution" IN ('recovered', 'superseded')));

-- AddCheckConstraint: the facts are a structure with named values, never a bare value.
ALTER TABLE "notifications" ADD CONSTRAINT "notifications_data_check" CHECK (jsonb_typeof("data") = 'object');

-- AddCheckConstraint
ALTER TABLE "notification_messages" ADD CONSTRAINT "notification_messages_channel_check" CHECK ("channel" IN ('in_app', 'email'));

-- AddCheckConstraint: a message waiting (pending, or sending under a lease) has a due time.
ALTER TABLE "notification_messages" ADD CONSTRAINT "notification_messages_status_check" CHECK (
    "status" IN ('pending', 'sending', 'sent', 'delivered', 'failed', 'skipped')
    AND ("status" NOT IN ('pending', 'sending') OR "next_attempt_at" IS NOT NULL)
    AND "attempts" >= 0);

-- AddCheckConstraint: an attempt's outcome is known exactly when it finished.
ALTER TABLE "notification_delivery_attempts" ADD CONSTRAINT "notification_delivery_attempts_outcome_check" CHECK (
    ("outcome" IS NULL) = ("finished_at" IS NULL)
    AND ("outcome" IS NULL OR "outcome" IN ('sent', 'retryable', 'rejected'))
    AND "attempt" >= 1);

-- AddCheckConstraint: as `Episode`: numbers from 0 (before the first), an opening time once there
-- is an episode, a level never below 0, the cooldown's clock an object.
ALTER TABLE "notification_episodes" ADD CONSTRAINT "notification_episodes_state_check" CHECK (
    "number" >= 0 AND "level" >= 0
    AND ("number" = 0) = ("opened_at" IS NULL)
    AND jsonb_typeof("last_notified_at") = 'object');

-- CreateFunction: every change of a notification gets a new seq (and update time), whoever makes
-- it (the notifier resolving, the API marking read), so a stream that has seen seq N reads the
-- change as one after N. A sequence hands out values at insert or update, not at commit: a reader
-- of "seq > N" may see N+2 commit before N+1, and must allow for it (read back to the oldest seq
-- of a transaction still running, or re-read a short window behind its position).
CREATE FUNCTION "notifications_next_seq"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.seq := nextval('notifications_seq_seq');
  NEW.updated_at := CURRENT_TIMESTAMP;
  RETURN NEW;
END
$$;

-- CreateTrigger: an update that changes nothing keeps its seq.
CREATE TRIGGER "notifications_seq_on_change" BEFORE UPDATE ON "notifications"
  FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
  EXECUTE FUNCTION "notifications_next_seq"();
