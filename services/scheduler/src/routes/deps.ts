import type pg from "pg";
import type { Schedule } from "../domain/schedule.ts";

/** What the scheduler's routes need. */
export type RouteDeps = {
  pool: pg.Pool;
  schedules: Schedule[];
  clock: () => Date;
  /** SCHEDULE_MANUAL_TRIGGER_INTERVAL: at most one manual run per schedule in this time. */
  manualTriggerIntervalMs: number;
};
