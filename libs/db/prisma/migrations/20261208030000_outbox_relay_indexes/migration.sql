-- The relay claims a source's oldest pending rows in (created_at, id) order. With the index on
-- (source, created_at) alone, Postgres sorted every pending row of the source to take the first
-- batch (a backlog of 70,000 rows: a 48 MB sort per batch of 200); with id in the index the rows
-- come in that order and the claim stops at its batch.
--
-- The lag gauges count a source's pending rows and its set-aside ones: pending rows through the
-- index above, set-aside ones (normally none) through their own partial index, so neither count
-- reads the published rows the table keeps for its retention.

-- DropIndex
DROP INDEX "outbox_events_source_created_at_idx";

-- CreateIndex
CREATE INDEX "outbox_events_source_created_at_id_idx" ON "outbox_events"("source", "created_at", "id") WHERE published_at IS NULL AND set_aside_at IS NULL;

-- CreateIndex
CREATE INDEX "outbox_events_set_aside_idx" ON "outbox_events"("source") WHERE published_at IS NULL AND set_aside_at IS NOT NULL;
