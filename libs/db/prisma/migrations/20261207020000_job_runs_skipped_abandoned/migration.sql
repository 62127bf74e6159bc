-- `skipped`: a tick arrived too late to be worth running (its slot is older than the consumer
-- allows); `abandoned`: no service finished the run before its deadline (no consumer for the
-- schedule, or every attempt died).
ALTER TABLE "job_runs" DROP CONSTRAINT "job_runs_status_check";
ALTER TABLE "job_runs" ADD CONSTRAINT "job_runs_status_check" CHECK ("status" IN ('running', 'succeeded', 'failed', 'partial', 'skipped', 'abandoned'));
