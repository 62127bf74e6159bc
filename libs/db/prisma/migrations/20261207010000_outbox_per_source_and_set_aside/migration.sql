-- Each service relays only the outbox rows it wrote (`source`, the envelope's `source`), and a row
-- that keeps failing to publish is set aside with its reason instead of being retried first forever.
ALTER TABLE "outbox_events" ADD COLUMN "source" TEXT NOT NULL DEFAULT '',
    ADD COLUMN "set_aside_at" TIMESTAMPTZ(3),
    ADD COLUMN "set_aside_reason" TEXT;

UPDATE "outbox_events" SET "source" = coalesce("payload" ->> 'source', '') WHERE "published_at" IS NULL;

DROP INDEX "outbox_events_created_at_idx";

-- CreateIndex
CREATE INDEX "outbox_events_source_created_at_idx" ON "outbox_events"("source", "created_at") WHERE published_at IS NULL AND set_aside_at IS NULL;

-- Every writer (enqueueEvents, the poller's page statement) gets `source` from the envelope it
-- stores, so no INSERT can leave a row that no relay picks up.
CREATE FUNCTION "outbox_events_source"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW."source" = '' THEN
        NEW."source" := coalesce(NEW."payload" ->> 'source', '');
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER "outbox_events_source" BEFORE INSERT ON "outbox_events" FOR EACH ROW EXECUTE FUNCTION "outbox_events_source"();
