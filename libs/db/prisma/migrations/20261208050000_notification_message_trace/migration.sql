-- The trace of the event that created a message (W3C traceparent / tracestate), so its email
-- delivery, a send that happens later in another loop of another replica, joins the trace the tick
-- started rather than beginning its own. Messages stored before it have none: their deliveries
-- start a trace of their own, as before.

-- AlterTable
ALTER TABLE "notification_messages" ADD COLUMN "trace_headers" JSONB NOT NULL DEFAULT '{}';
