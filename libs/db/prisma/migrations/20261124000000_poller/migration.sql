-- CreateTable
CREATE TABLE "sync_states" (
    "connection_id" UUID NOT NULL,
    "platform" TEXT NOT NULL,
    "resource" TEXT NOT NULL,
    "cursor" TEXT,
    "page_token" TEXT,
    "full_listing" BOOLEAN NOT NULL DEFAULT false,
    "poll_started_at" TIMESTAMPTZ(3),
    "poll_counts" JSONB NOT NULL DEFAULT '{}',
    "status" TEXT NOT NULL DEFAULT 'active',
    "paused_reason" TEXT,
    "next_poll_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_polled_at" TIMESTAMPTZ(3),
    "last_success_at" TIMESTAMPTZ(3),
    "consecutive_failures" INTEGER NOT NULL DEFAULT 0,
    "last_error" TEXT,
    "last_error_kind" TEXT,
    "claimed_until" TIMESTAMPTZ(3),
    "claimed_by" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "sync_states_pkey" PRIMARY KEY ("connection_id","platform","resource")
);

-- CreateTable
CREATE TABLE "raw_records" (
    "id" UUID NOT NULL,
    "connection_id" UUID NOT NULL,
    "platform" TEXT NOT NULL,
    "resource" TEXT NOT NULL,
    "external_id" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "content_hash" TEXT NOT NULL,
    "occurred_at" TIMESTAMPTZ(3),
    "first_seen_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_seen_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "deleted_at" TIMESTAMPTZ(3),

    CONSTRAINT "raw_records_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "contacts" (
    "id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "email" TEXT NOT NULL,
    "name" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "contacts_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "communication_events" (
    "id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "contact_id" UUID NOT NULL,
    "connection_id" UUID NOT NULL,
    "raw_record_id" UUID NOT NULL,
    "channel" TEXT NOT NULL,
    "direction" TEXT NOT NULL,
    "occurred_at" TIMESTAMPTZ(3) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "communication_events_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "rate_limit_buckets" (
    "key" TEXT NOT NULL,
    "tokens" DOUBLE PRECISION NOT NULL,
    "capacity" DOUBLE PRECISION NOT NULL,
    "refill_per_sec" DOUBLE PRECISION NOT NULL,
    "updated_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "blocked_until" TIMESTAMPTZ(3),

    CONSTRAINT "rate_limit_buckets_pkey" PRIMARY KEY ("key")
);

-- CreateIndex
CREATE INDEX "sync_states_status_next_poll_at_idx" ON "sync_states"("status", "next_poll_at");

-- CreateIndex
CREATE INDEX "sync_states_due_healthy_idx" ON "sync_states"("platform", "next_poll_at") WHERE status = 'active' AND consecutive_failures = 0;

-- CreateIndex
CREATE INDEX "sync_states_due_failing_idx" ON "sync_states"("platform", "next_poll_at") WHERE status = 'active' AND consecutive_failures > 0;

-- CreateIndex
CREATE UNIQUE INDEX "raw_records_connection_id_platform_resource_external_id_key" ON "raw_records"("connection_id", "platform", "resource", "external_id");

-- CreateIndex
CREATE UNIQUE INDEX "contacts_user_id_email_key" ON "contacts"("user_id", "email");

-- CreateIndex
CREATE INDEX "communication_events_contact_id_occurred_at_idx" ON "communication_events"("contact_id", "occurred_at");

-- CreateIndex
CREATE UNIQUE INDEX "communication_events_raw_record_id_contact_id_key" ON "communication_events"("raw_record_id", "contact_id");

-- AddForeignKey
ALTER TABLE "sync_states" ADD CONSTRAINT "sync_states_connection_id_fkey" FOREIGN KEY ("connection_id") REFERENCES "connections"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "raw_records" ADD CONSTRAINT "raw_records_connection_id_fkey" FOREIGN KEY ("connection_id") REFERENCES "connections"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "contacts" ADD CONSTRAINT "contacts_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "communication_events" ADD CONSTRAINT "communication_events_contact_id_fkey" FOREIGN KEY ("contact_id") REFERENCES "contacts"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "communication_events" ADD CONSTRAINT "communication_events_raw_record_id_fkey" FOREIGN KEY ("raw_record_id") REFERENCES "raw_records"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- ---------------------------------------------------------------------------------------------
-- Hand-written below this line: what the Prisma schema cannot express.
-- ---------------------------------------------------------------------------------------------

-- AddCheckConstraint
ALTER TABLE "sync_states" ADD CONSTRAINT "sync_states_status_check" CHECK ("status" IN ('active', 'paused'));

-- AddCheckConstraint: contact emails are stored lowercased, so "contacts_user_id_email_key" is
-- case-insensitive and matching a message's addresses is a plain equality on lower(address).
ALTER TABLE "contacts" ADD CONSTRAINT "contacts_email_lowercase_check" CHECK ("email" = lower("email"));

-- AddCheckConstraint
ALTER TABLE "communication_events" ADD CONSTRAINT "communication_events_channel_check" CHECK ("channel" IN ('email', 'meeting'));

-- AddCheckConstraint
ALTER TABLE "communication_events" ADD CONSTRAINT "communication_events_direction_check" CHECK ("direction" IN ('inbound', 'outbound'));

-- AddCheckConstraint
ALTER TABLE "rate_limit_buckets" ADD CONSTRAINT "rate_limit_buckets_config_check" CHECK ("capacity" > 0 AND "refill_per_sec" > 0);
