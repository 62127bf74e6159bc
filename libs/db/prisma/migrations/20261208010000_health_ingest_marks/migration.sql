-- data.ingested names a connection, not the contacts its poll matched: the health scorer finds
-- them among the connection's communication events recorded since it last looked. The index makes
-- that a range read of the new events instead of a probe of every contact of the user; the mark
-- is how far it has looked, per connection.

-- CreateIndex
CREATE INDEX "communication_events_connection_id_created_at_idx" ON "communication_events"("connection_id", "created_at");

-- CreateTable: the newest communication event of the connection (by "created_at") whose contact
-- the health scorer has rescored. It reads from a little before it on the next data.ingested (a
-- page written by a transaction that started earlier can commit later).
CREATE TABLE "health_ingest_marks" (
    "connection_id" UUID NOT NULL,
    "events_through" TIMESTAMPTZ(3) NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "health_ingest_marks_pkey" PRIMARY KEY ("connection_id")
);

-- AddForeignKey
ALTER TABLE "health_ingest_marks" ADD CONSTRAINT "health_ingest_marks_connection_id_fkey" FOREIGN KEY ("connection_id") REFERENCES "connections"("id") ON DELETE CASCADE ON UPDATE CASCADE;
