-- The health scorer reads a contact's communication events (when, which way, which channel, when
-- recorded) for every score it computes. With those columns in the index the read is an index-only
-- scan instead of a visit to each event's heap row (docs/decisions/0017). It replaces the index on
-- (contact_id, occurred_at), whose leading columns it keeps, so the poller still maintains one
-- index per contact, not two.

-- CreateIndex
CREATE INDEX "communication_events_contact_scoring_idx" ON "communication_events"("contact_id", "occurred_at", "direction", "channel", "created_at");

-- DropIndex
DROP INDEX "communication_events_contact_id_occurred_at_idx";
